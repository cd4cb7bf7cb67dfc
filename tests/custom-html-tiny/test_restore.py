"""custom-html-tiny after restore: the pre-backup marker is back, the post-backup change is gone."""

from __future__ import annotations

import httpx

from runner.harness.opstate import OpState


def test_the_marker_from_before_the_backup_is_back(http: httpx.Client, op_state: OpState) -> None:
    backed_up = op_state["backup"].seed["marker"]
    changed = op_state["restore"].seed["changed"]
    response = http.get("/backup-marker.txt")
    assert response.status_code == 200
    assert response.text != changed, "the change made after the backup survived the restore"
    assert response.text == backed_up


def test_the_rest_of_the_volume_is_as_it_was(http: httpx.Client, op_state: OpState) -> None:
    if "upgrade" in op_state:
        assert http.get("/upgrade-marker.txt").text == op_state["upgrade"].seed["marker"]
    assert http.get("/admin/").status_code == 401
