"""The restore floor (`tests/_generic/test_restore.py`) called with stubbed op state and a target
over an in-memory volume: it goes red when the restore wrote nothing back (issue 11 point 12),
whether the app is busy or nothing changed since the backup, and stays green for a correct
restore of an app that never stops writing (point 1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from runner.evidence import proof
from runner.evidence.proof import Key, Seen
from runner.maintainer.meta import RecipeMeta
from runner.ops.backup import BackupRecord
from runner.ops.restore import RestoreOpRecord
from runner.run.app import App
from runner.run.opstate import (
    BackedUpFile,
    OpState,
    RestoreRecord,
    Snapshot,
    Witness,
)
from tests.unit.floor.support import load_floor
from tests.unit.floor.web_stubs import StubTarget, fixtures, web

floor = load_floor("restore")
META = RecipeMeta.model_validate({})


def _app() -> App:
    return App(recipe="recipe", run_id="r1", domain="app.test", stack="app_test", checkout=Path("/nowhere"),
               run_dir=Path("/nowhere"), env={})


def _state(snapshot: Snapshot, restored: RestoreRecord) -> OpState:
    return OpState(run_id="r1", recipe="recipe", head_commit="0" * 40,
                   ops={"backup": BackupRecord(op="backup", snapshot=snapshot),
                        "restore": RestoreOpRecord(op="restore", restore=restored)})


@dataclass
class Volume:
    """One volume in memory, with the clock that stamps its files, and the harness's and the
    app's doings on it, the way the backup and restore ops do them on a real one."""

    files: dict[str, tuple[bytes, int]] = field(default_factory=dict)  # path -> (content, mtime)
    dirs: dict[str, int] = field(default_factory=dict)  # path -> mtime ('' the root)
    now: int = 100

    def write(self, path: str, data: bytes, mtime: int | None = None) -> None:
        self.now += 1
        self.files[path] = (data, self.now if mtime is None else mtime)
        self.dirs[path.rpartition("/")[0]] = self.now

    def seen(self) -> dict[Key, Seen]:
        return {**{("data", d): Seen(m) for d, m in self.dirs.items()},
                **{("data", p): Seen(m, proof.sha256(data)) for p, (data, m) in self.files.items()}}

    # -- what the ops do ---------------------------------------------------------------------

    def plant(self, directory: str) -> Witness:
        content = proof.witness_content("planted before the backup")
        path = proof.witness_path(directory, proof.witness_name())
        self.write(path, content)
        return Witness(volume="data", path=path, sha256=proof.sha256(content))

    def snapshot(self, witnesses: list[Witness]) -> tuple[Snapshot, dict[str, tuple[bytes, int]]]:
        taken = dict(self.files)
        files = [BackedUpFile(volume="data", path=p, size=len(d), sha256=proof.sha256(d)) for p, (d, _) in taken.items()]
        return Snapshot(id="0123abcd", repository="/r", export="/r.tar.gz", volumes={"data": []},
                        stack_volumes=["data"], files=files, witnesses=witnesses), taken

    def restore(self, snapshot: Snapshot, taken: dict[str, tuple[bytes, int]], writes: bool,
                busy: bool) -> RestoreRecord:
        began = self.now = self.now + 50
        if writes:
            self.files.update(taken)  # bytes and mtimes as the snapshot holds them
        if busy:
            self.write("db/heartbeat", b"tick after the restore")  # between the write and the read-back
        judged = proof.judge_read_back(snapshot.files, self.seen(), began, snapshot.witnesses)
        if busy:
            self.write("db/heartbeat", b"tick while converging")
        live = {(k[0], k[1]): s.sha256 for k, s in self.seen().items() if s.sha256 is not None}
        changed = proof.changed_since_restore(snapshot.files, live, judged.judged_otherwise(), snapshot.witnesses)
        return RestoreRecord(snapshot_id=snapshot.id, volumes=["data"], files=len(taken) if writes else 0,
                             duration_s=1.0, verified=judged.verified, rewritten_by_app=judged.rewritten_by_app,
                             mismatched=judged.mismatched, changed_by_app=sorted(set(judged.rewritten_by_app) | set(changed)))


class VolumeTarget:
    """Reads the in-memory volume as the target reads a real one (through a helper)."""

    def __init__(self, volume: Volume) -> None:
        self.volume = volume

    def file_digests(self, app: App, files: list[Key]) -> dict[Key, str | None]:
        found = {(v, p): self.volume.files.get(p) for v, p in files}
        return {key: proof.sha256(hit[0]) if hit else None for key, hit in found.items()}


def _lifecycle(writes: bool, busy: bool, changed_since_backup: bool = True) -> tuple[OpState, VolumeTarget]:
    volume = Volume()
    volume.write("db/main.db", b"rows")
    volume.write("db/heartbeat", b"tick before the backup")
    witnesses = [volume.plant(""), volume.plant("db")]
    snapshot, taken = volume.snapshot(witnesses)
    for witness in witnesses:  # once the snapshot is taken
        volume.write(witness.path, proof.witness_content("changed after the backup"))
    if changed_since_backup and busy:
        volume.write("db/main.db", b"rows, and more")
    restored = volume.restore(snapshot, taken, writes=writes, busy=busy)
    return _state(snapshot, restored), VolumeTarget(volume)


def _restore_floor(state: OpState, target: VolumeTarget) -> None:
    floor.test_the_restore_wrote_back_the_backups_snapshot(state, "restore")
    floor.test_every_restored_file_read_back_as_taken(state, "restore")
    floor.test_every_witness_is_back_byte_identical(_app(), target, state, META)


@pytest.mark.parametrize("busy", [True, False], ids=["busy app", "idle app"])
def test_a_correct_restore_passes(busy: bool) -> None:
    state, target = _lifecycle(writes=True, busy=busy)
    _restore_floor(state, target)
    restored = state["restore"].restore
    assert restored is not None
    assert restored.changed_by_app == (["data:db/heartbeat"] if busy else [])  # information, not a failure


@pytest.mark.parametrize("busy", [True, False], ids=["busy app", "nothing changed since the backup"])
def test_a_restore_that_wrote_nothing_back_goes_red_on_the_witnesses(busy: bool) -> None:
    state, target = _lifecycle(writes=False, busy=busy, changed_since_backup=busy)
    with pytest.raises(AssertionError) as failed:
        floor.test_every_witness_is_back_byte_identical(_app(), target, state, META)
    assert "2 of 2 witness file(s), planted before the backup and changed after it, are not back as the " \
           "snapshot took them: the restore did not write the snapshot back" in str(failed.value)
    with pytest.raises(AssertionError, match="read back otherwise than the snapshot took them"):
        floor.test_every_restored_file_read_back_as_taken(state, "restore")


def test_a_witness_gone_from_the_volume_fails_naming_it() -> None:
    state, target = _lifecycle(writes=True, busy=False)
    snapshot = state["backup"].snapshot
    assert snapshot is not None
    del target.volume.files[snapshot.witnesses[1].path]
    with pytest.raises(AssertionError, match=rf"1 of 2 .* data:{snapshot.witnesses[1].path} \(missing\)"):
        floor.test_every_witness_is_back_byte_identical(_app(), target, state, META)


def test_without_witnesses_the_check_skips_and_the_read_back_decides() -> None:
    state, target = _lifecycle(writes=True, busy=True)
    snapshot = state["backup"].snapshot
    assert snapshot is not None
    bare = _state(snapshot.model_copy(update={"witnesses": []}), state["restore"].restore)  # type: ignore[arg-type]
    opted_out = RecipeMeta.model_validate({"SKIP_WITNESSES": "the app refuses unknown files in its volume"})
    with pytest.raises(pytest.skip.Exception, match="SKIP_WITNESSES = 'the app refuses unknown files"):
        floor.test_every_witness_is_back_byte_identical(_app(), target, bare, opted_out)
    floor.test_every_restored_file_read_back_as_taken(bare, "restore")


def test_a_read_back_that_accounts_for_fewer_files_than_the_snapshot_fails() -> None:
    state, _target = _lifecycle(writes=True, busy=False)
    restored = state["restore"].restore
    assert restored is not None
    short = _state(state["backup"].snapshot, restored.model_copy(update={"verified": 1}))  # type: ignore[arg-type]
    with pytest.raises(AssertionError, match="accounts for 1 of the snapshot's 4 file"):
        floor.test_every_restored_file_read_back_as_taken(short, "restore")


def test_a_restore_of_another_snapshot_or_fewer_files_fails() -> None:
    state, _target = _lifecycle(writes=True, busy=False)
    snapshot, restored = state["backup"].snapshot, state["restore"].restore
    assert snapshot is not None and restored is not None
    wrongs: list[dict[str, object]] = [{"snapshot_id": "ffff0000"}, {"files": restored.files - 1}, {"volumes": []}]
    for wrong in wrongs:
        with pytest.raises(AssertionError):
            floor.test_the_restore_wrote_back_the_backups_snapshot(_state(snapshot, restored.model_copy(update=wrong)), "restore")


@pytest.mark.parametrize(("wrong", "said"), [
    ({"snapshot_id": "ffff0000"}, "the restore wrote back snapshot ffff0000, not the backup's 0123abcd"),
    ({"files": 2}, "the restore wrote back 2 file(s); the snapshot took 4"),
    ({"volumes": []}, "the restore wrote back volume(s) none; the snapshot took data"),
], ids=["another snapshot", "fewer files", "no volume"])
def test_a_restore_of_another_snapshot_or_fewer_files_says_what_it_wrote_and_what_was_taken(
    wrong: dict[str, object], said: str
) -> None:
    state, _target = _lifecycle(writes=True, busy=False)
    snapshot, restored = state["backup"].snapshot, state["restore"].restore
    assert snapshot is not None and restored is not None
    with pytest.raises(AssertionError) as failed:
        floor.test_the_restore_wrote_back_the_backups_snapshot(_state(snapshot, restored.model_copy(update=wrong)),
                                                               "restore")
    assert str(failed.value) == said


def test_no_recorded_snapshot_or_restore_is_said() -> None:
    state, target = _lifecycle(writes=True, busy=False)
    snapshot = state["backup"].snapshot
    assert snapshot is not None
    state.ops["restore"] = state.ops["restore"].model_copy(update={"restore": None})
    with pytest.raises(AssertionError, match="^op state records no restore for the restore: the op wrote nothing back$"):
        floor.test_every_restored_file_read_back_as_taken(state, "restore")
    state.ops["backup"] = state.ops["backup"].model_copy(update={"snapshot": None})
    for check in (lambda: floor.test_the_restore_wrote_back_the_backups_snapshot(state, "restore"),
                  lambda: floor.test_every_witness_is_back_byte_identical(_app(), target, state, META)):
        with pytest.raises(AssertionError, match="^op state records no snapshot of the backup: there is nothing the "
                                                 "restore could write back$"):
            check()


def test_an_unconverged_service_after_the_restore_is_named_in_a_sentence() -> None:
    floor.test_every_service_converged([], "restore-fresh")
    with pytest.raises(AssertionError, match="^after the restore-fresh, 1 service of the app is not running every "
                                             "task of its spec: db: 0/1 running"):
        floor.test_every_service_converged(["db: 0/1 running"], "restore-fresh")


@pytest.mark.parametrize("status", [200, 302, 401])
def test_an_app_that_answers_after_the_restore_serves_a_login_page_included(status: int) -> None:
    f = fixtures(StubTarget({"app": web()}, {("app", 80): [status]}))
    floor.test_every_web_service_answers_http(f["serving"], f["web_services"])


def test_an_app_that_answers_only_server_errors_after_the_restore_fails() -> None:
    f = fixtures(StubTarget({"app": web()}, {("app", 80): [500]}), timeout_s=0.0)
    with pytest.raises(AssertionError, match="answered 500"):
        floor.test_every_web_service_answers_http(f["serving"], f["web_services"])
