"""custom-html-tiny after upgrade: the content volume came through it untouched."""

from __future__ import annotations

import httpx

from runner.run.opstate import OpState


def test_a_marker_written_before_the_upgrade_survives_it(http: httpx.Client, op_state: OpState) -> None:
    marker = op_state["upgrade"].seed["marker"]
    response = http.get("/upgrade-marker.txt")
    assert (response.status_code, response.text) == (200, marker)


def test_the_page_in_the_volume_is_kept(http: httpx.Client, op_state: OpState) -> None:
    # release/1.1.0+1.1: "Content in the volume is kept" — the base's page, not the new image's
    installed = op_state["install"].deployment
    assert installed is not None
    upstream = installed.version.split("+", 1)[1]
    assert f"<h1>custom-html-tiny {upstream}</h1>" in http.get("/").text
