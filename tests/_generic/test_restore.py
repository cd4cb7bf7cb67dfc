"""The generic floor after restore (and after restore-fresh, on the fresh app: the tier's `app`, its
record `op_state[op]`): the app converged again, answers HTTP, and the snapshot was written back: every file read back as taken right after the restore wrote it, and every witness
file planted before the backup (changed since) back byte for byte in the live volume. Both hold
however busy the app is: the read-back happens before the app is given time, and the app never
touches a witness. What the app changed after the restore is the restore op's note, never a
failure. docs/generic-floor.md says more."""

from __future__ import annotations

import pytest

from runner.evidence.converged import not_converged
from runner.evidence.proof import few
from runner.evidence.serving import Answer
from runner.maintainer.meta import RecipeMeta
from runner.recipe.traefik import WebService
from runner.run.app import App
from runner.run.opstate import OpState, RestoreRecord, Snapshot
from runner.targets.base import Target


def test_every_service_converged(unconverged: list[str], op: str) -> None:
    assert not unconverged, not_converged(unconverged, f"the {op}")


def test_every_web_service_answers_http(serving: list[Answer], web_services: list[WebService]) -> None:
    # as after install: any status below 500 is an answer (a login page, a redirect)
    if not web_services:
        pytest.skip("no service of the app is web-facing (traefik.enable=true): nothing serves HTTP")
    unanswered = [answer.text() for answer in serving if not answer.answered]
    assert not unanswered, "; ".join(unanswered)


def test_the_restore_wrote_back_the_backups_snapshot(op_state: OpState, op: str) -> None:
    snapshot, restored = _records(op_state, op)
    assert restored.snapshot_id == snapshot.id, (
        f"the {op} wrote back snapshot {restored.snapshot_id}, not the backup's {snapshot.id}")
    assert restored.volumes == sorted(snapshot.volumes), (
        f"the {op} wrote back volume(s) {', '.join(restored.volumes) or 'none'}; the snapshot took "
        f"{', '.join(sorted(snapshot.volumes)) or 'none'}")
    assert restored.files == len(snapshot.files), (
        f"the {op} wrote back {restored.files} file(s); the snapshot took {len(snapshot.files)}")


def test_every_restored_file_read_back_as_taken(op_state: OpState, op: str) -> None:
    snapshot, restored = _records(op_state, op)
    assert restored.mismatched == [], (
        f"{len(restored.mismatched)} of {len(snapshot.files)} restored file(s) read back otherwise than the "
        f"snapshot took them, right after the restore wrote them and before the app was given time: "
        f"{few(restored.mismatched)}")
    assert restored.verified + len(restored.rewritten_by_app) == len(snapshot.files), (
        f"the read-back accounts for {restored.verified + len(restored.rewritten_by_app)} of the snapshot's "
        f"{len(snapshot.files)} file(s)")


def test_every_witness_is_back_byte_identical(app: App, target: Target, op_state: OpState, meta: RecipeMeta) -> None:
    snapshot = op_state["backup"].snapshot
    assert snapshot is not None, "op state records no snapshot of the backup: there is nothing the restore could write back"
    if not snapshot.witnesses:
        pytest.skip(f"no witness files: SKIP_WITNESSES = {meta.SKIP_WITNESSES!r}" if meta.SKIP_WITNESSES
                    else "no backed-up directory existed to plant a witness file in")
    live = target.file_digests(app, [w.key for w in snapshot.witnesses])
    wrong = [f"{w.volume}:{w.path} ({'missing' if live.get(w.key) is None else 'not as planted'})"
             for w in snapshot.witnesses if live.get(w.key) != w.sha256]
    assert wrong == [], (
        f"{len(wrong)} of {len(snapshot.witnesses)} witness file(s), planted before the backup and changed after "
        f"it, are not back as the snapshot took them: the restore did not write the snapshot back. {few(wrong)}")


def _records(op_state: OpState, op: str) -> tuple[Snapshot, RestoreRecord]:
    """The backup's snapshot and what the restore wrote back of it."""
    snapshot, restored = op_state["backup"].snapshot, op_state[op].restore
    assert snapshot is not None, "op state records no snapshot of the backup: there is nothing the restore could write back"
    assert restored is not None, f"op state records no restore for the {op}: the op wrote nothing back"
    return snapshot, restored
