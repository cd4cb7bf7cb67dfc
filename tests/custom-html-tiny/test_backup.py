"""custom-html-tiny after backup: what was in the volume right before it is in the snapshot,
and the recipe's backup hooks ran around the copy."""

from __future__ import annotations

import hashlib

import httpx

from runner.run.opstate import BackedUpFile, OpState


def _taken(op_state: OpState) -> dict[str, BackedUpFile]:
    snapshot = op_state["backup"].snapshot
    assert snapshot is not None
    return {f.path: f for f in snapshot.files if f.volume == "content"}


def test_the_snapshot_holds_the_marker_written_before_the_backup(op_state: OpState) -> None:
    marker = op_state["backup"].seed["marker"]
    taken = _taken(op_state)
    assert "backup-marker.txt" in taken, sorted(taken)
    assert taken["backup-marker.txt"].sha256 == hashlib.sha256(marker.encode()).hexdigest()


def test_the_whole_content_volume_is_taken(op_state: OpState) -> None:
    expected = {"index.html", "admin/index.html", "backup-marker.txt"}
    if "upgrade" in op_state:
        expected.add("upgrade-marker.txt")
    assert set(_taken(op_state)) >= expected


def test_the_pre_hook_dump_is_in_the_snapshot_and_the_post_hook_removed_it(
    op_state: OpState, http: httpx.Client
) -> None:
    dump = _taken(op_state).get("backup-dump.txt")
    assert dump is not None and dump.size > 0, "the pre-hook's dump is not in the snapshot"
    assert http.get("/backup-dump.txt").status_code == 404, "the post-hook did not clean up"
