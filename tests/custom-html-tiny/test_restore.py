"""custom-html-tiny after restore: the pre-backup marker is back, the post-backup change is gone.
After restore-fresh the same holds on the fresh app (`http` reaches it): the marker came with the
snapshot, and the change made to the original app after the backup (when restore ran) did not."""

from __future__ import annotations

import httpx

from runner.run.opstate import OpState


def test_the_marker_from_before_the_backup_is_back(http: httpx.Client, op_state: OpState) -> None:
    backed_up = op_state["backup"].seed["marker"]
    response = http.get("/backup-marker.txt")
    assert response.status_code == 200
    if "restore" in op_state:  # restore-fresh may run without it
        assert response.text != op_state["restore"].seed["changed"], "the change made after the backup survived"
    assert response.text == backed_up


def test_the_rest_of_the_volume_is_as_it_was(http: httpx.Client, op_state: OpState) -> None:
    if "upgrade" in op_state:
        assert http.get("/upgrade-marker.txt").text == op_state["upgrade"].seed["marker"]
    assert http.get("/admin/").status_code == 401
