"""The backup floor (`tests/_generic/test_backup.py`) called with a stubbed snapshot, its restic
listing, its export and the deployed labels: each assertion fails on the broken case and passes
on the edge cases of a correct recipe (an app that keeps writing, a labelled path a fresh install
has not made, a label naming no volume, a volume both excluded and path-limited, no witness)."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from runner.maintainer.meta import RecipeMeta
from runner.ops.backup import BackupRecord
from runner.run.app import App
from runner.run.opstate import (
    WITNESS_PREFIX,
    BackedUpFile,
    OpRecord,
    OpState,
    Snapshot,
    Witness,
)
from runner.run.rundir import RunDir
from runner.swarm.backup import Restic
from tests.unit.floor.support import fixture_function, load_floor

floor = load_floor("backup")
STACK = "app_test"
ROOT = "/var/lib/docker/volumes"
WITNESS = Witness(volume="content", path=f"{WITNESS_PREFIX}a1", sha256=hashlib.sha256(b"planted").hexdigest())


def _app() -> App:
    return App(recipe="recipe", run_id="r1", domain="app.test", stack=STACK, checkout=Path("/nowhere"),
               run_dir=Path("/nowhere"), env={})


@dataclass
class Taken:
    """A consistent backup: what the op recorded, what restic lists, the export on disk."""

    snapshot: Snapshot
    listed: dict[str, dict[str, Any]]
    labels: dict[str, dict[str, str]] = field(default_factory=dict)


def _taken(tmp_path: Path, files: dict[tuple[str, str], bytes], volumes: dict[str, list[str]],
           stack_volumes: list[str], labels: dict[str, str] | None = None, witnesses: list[Witness] | None = None,
           **recorded: Any) -> Taken:
    export = tmp_path / "0123abcd.tar.gz"
    listed: dict[str, dict[str, Any]] = {}
    with tarfile.open(export, "w:gz") as tar:
        for (volume, path), data in sorted(files.items()):
            full = f"{ROOT}/{STACK}_{volume}/_data/{path}"
            info = tarfile.TarInfo(full.lstrip("/"))
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            listed[full] = {"path": full, "type": "file", "size": len(data)}
            parent = os.path.dirname(full)
            while parent.startswith(f"{ROOT}/{STACK}_"):
                listed.setdefault(parent, {"path": parent, "type": "dir"})
                parent = os.path.dirname(parent)
    snapshot = Snapshot(id="0123abcd", repository=str(tmp_path / "restic"), export=str(export), volumes=volumes,
                        stack_volumes=stack_volumes, witnesses=witnesses if witnesses is not None else [],
                        files=[BackedUpFile(volume=v, path=p, size=len(d), sha256=hashlib.sha256(d).hexdigest())
                               for (v, p), d in sorted(files.items())], **recorded)
    return Taken(snapshot, listed, {"app": {"backupbot.backup": "true", **(labels or {})}})


def _content(tmp_path: Path, **kwargs: Any) -> Taken:
    """The example's shape: one whole volume, a page, a witness in its root."""
    files = {("content", "index.html"): b"<h1>hi</h1>", ("content", WITNESS.path): b"planted"}
    return _taken(tmp_path, files, {"content": []}, ["content"], witnesses=[WITNESS], **kwargs)


def _labels_hold(taken: Taken) -> None:
    floor.test_every_volume_of_the_stack_is_taken_unless_a_label_excludes_it(taken.snapshot, taken.labels)
    floor.test_a_path_label_limits_its_volume_to_those_paths(taken.snapshot, taken.labels)


def _fails(check: Any, *args: Any) -> str:
    with pytest.raises(AssertionError) as failed:
        check(*args)
    return str(failed.value)


class NoLiveReads:
    """A target of an app that rewrites its files all the time: the backup floor must not read
    the live volumes at all (what is there now is not what was there at the backup)."""

    def service_labels(self, app: App) -> dict[str, dict[str, str]]:
        return {"app": {"backupbot.backup": "true"}}

    def volume_files(self, app: App) -> Any:
        raise AssertionError("the backup floor read the live volumes")

    def file_digests(self, app: App, files: Any) -> Any:
        raise AssertionError("the backup floor read the live volumes")


# -- a snapshot was taken ---------------------------------------------------------------------

def _state(record: OpRecord) -> OpState:
    return OpState(run_id="r1", recipe="recipe", head_commit="0" * 40, ops={"backup": record})


def test_no_snapshot_fails_with_what_is_wrong_with_the_recipe_and_the_rest_skips() -> None:
    reason = "backupbot.backup=true is set, but no service of the stack mounts a volume: there is nothing to back up"
    state = _state(BackupRecord(op="backup", no_snapshot=reason))
    assert _fails(floor.test_the_backup_took_a_snapshot, state) == f"the backup took no snapshot: {reason}"
    with pytest.raises(pytest.skip.Exception):
        fixture_function(floor, "snapshot")(state)


def test_a_snapshot_taken_passes(tmp_path: Path) -> None:
    state = _state(BackupRecord(op="backup", snapshot=_content(tmp_path).snapshot))
    floor.test_the_backup_took_a_snapshot(state)
    assert fixture_function(floor, "snapshot")(state).id == "0123abcd"


# -- the repository (real restic, a few seconds) ------------------------------------------------

@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    run_dir = tmp_path_factory.mktemp("run")
    staging = run_dir / "staging"
    (staging / f"var/lib/docker/volumes/{STACK}_content/_data").mkdir(parents=True)
    (staging / f"var/lib/docker/volumes/{STACK}_content/_data/index.html").write_text("hi")
    repo = Restic.for_run(RunDir(run_dir))
    repo.init()
    snapshot_id = repo.backup(staging, [f"var/lib/docker/volumes/{STACK}_content"])
    return Snapshot(id=snapshot_id, repository=str(repo.repository), export="", volumes={"content": []})


def _read_back(snapshot: Snapshot) -> Any:
    return fixture_function(floor, "read_back")(snapshot)


def test_the_snapshot_is_found_in_its_repository_with_its_password(repository: Snapshot) -> None:
    read_back = _read_back(repository)
    floor.test_the_snapshot_is_in_the_repository_and_readable_with_its_password(repository, read_back)
    listed = fixture_function(floor, "listed")(read_back)
    assert listed[f"{ROOT}/{STACK}_content/_data/index.html"]["size"] == 2


def test_a_snapshot_id_the_repository_lacks_fails(repository: Snapshot) -> None:
    for other in (repository.model_copy(update={"id": "f" * 64}),  # no such id
                  repository.model_copy(update={"id": repository.id[:8]})):  # restic would list it by prefix
        message = _fails(floor.test_the_snapshot_is_in_the_repository_and_readable_with_its_password,
                         other, _read_back(other))
        assert message == (f"snapshot {other.id} is not in the run's restic repository {repository.repository}, "
                           f"which holds {repository.id}"), message


def test_a_repository_its_password_cannot_open_fails(repository: Snapshot) -> None:
    password = Path(repository.password_file)
    kept = password.read_text()
    password.write_text("not the password")
    try:
        message = _fails(floor.test_the_snapshot_is_in_the_repository_and_readable_with_its_password,
                         repository, _read_back(repository))
    finally:
        password.write_text(kept)
    assert message.startswith(f"restic could not list snapshot {repository.id} of the run's repository "
                              f"{repository.repository} with its password: exit 1, "), message


def test_a_password_file_others_can_read_fails(repository: Snapshot) -> None:
    password = Path(repository.password_file)
    password.chmod(0o644)
    try:
        message = _fails(floor.test_the_snapshot_is_in_the_repository_and_readable_with_its_password,
                         repository, _read_back(repository))
        assert message == (f"the restic password file {password} is mode 0644, expected 0600: only the harness "
                           "may read it")
    finally:
        password.chmod(0o600)


# -- what the snapshot holds --------------------------------------------------------------------

def test_a_snapshot_holding_what_was_taken_passes_every_check(tmp_path: Path) -> None:
    taken, app = _content(tmp_path), _app()
    floor.test_every_included_volume_and_path_is_in_the_snapshot(app, taken.snapshot, taken.listed)
    floor.test_nothing_outside_the_included_volumes_and_paths_is_in_the_snapshot(app, taken.snapshot, taken.listed)
    floor.test_the_recorded_files_are_the_snapshots_files(app, taken.snapshot, taken.listed)
    floor.test_the_export_holds_the_snapshots_files_in_the_backup_spec_layout(app, taken.snapshot)
    floor.test_every_witness_is_in_the_snapshot_with_the_bytes_planted(taken.snapshot, RecipeMeta.model_validate({}))
    _labels_hold(taken)


def test_every_check_holds_for_an_app_that_rewrites_its_files_all_the_time(tmp_path: Path) -> None:
    # nothing of the floor compares with the live volumes, so whatever the app wrote since is moot
    taken, app, target = _content(tmp_path), _app(), NoLiveReads()
    labels = fixture_function(floor, "labels")(app, target)
    floor.test_every_included_volume_and_path_is_in_the_snapshot(app, taken.snapshot, taken.listed)
    floor.test_the_recorded_files_are_the_snapshots_files(app, taken.snapshot, taken.listed)
    floor.test_every_witness_is_in_the_snapshot_with_the_bytes_planted(taken.snapshot, RecipeMeta.model_validate({}))
    floor.test_every_volume_of_the_stack_is_taken_unless_a_label_excludes_it(taken.snapshot, labels)
    assert "live" not in vars(floor), "the backup floor has a fixture of the live volumes again"


def test_a_taken_path_missing_from_the_snapshot_fails(tmp_path: Path) -> None:
    taken = _content(tmp_path)
    del taken.listed[f"{ROOT}/{STACK}_content/_data"]
    message = _fails(floor.test_every_included_volume_and_path_is_in_the_snapshot, _app(), taken.snapshot, taken.listed)
    assert message == f"taken, yet not in the snapshot: {ROOT}/{STACK}_content/_data"


def test_a_snapshot_of_no_volume_says_where_to_look() -> None:
    empty = Snapshot(id="0123abcd", repository="/r", export="/r.tar.gz", volumes={})
    message = _fails(floor.test_every_included_volume_and_path_is_in_the_snapshot, _app(), empty, {})
    assert message == ("snapshot 0123abcd took no volume, expected at least one (the backup op's notes say which "
                       "volumes it left out, and why)")


def test_a_file_of_an_excluded_volume_or_outside_a_path_limit_in_the_snapshot_fails(tmp_path: Path) -> None:
    files = {("data", "keep/a"): b"a", ("data", "skip/b"): b"b", ("logs", "x.log"): b"x"}
    taken = _taken(tmp_path, files, {"data": ["keep"]}, ["data", "logs"], excluded=["logs"])
    message = _fails(floor.test_nothing_outside_the_included_volumes_and_paths_is_in_the_snapshot,
                     _app(), taken.snapshot, taken.listed)
    assert "skip/b" in message and "x.log" in message


def test_a_manifest_that_is_not_the_snapshots_files_fails(tmp_path: Path) -> None:
    taken = _content(tmp_path)
    taken.listed[f"{ROOT}/{STACK}_content/_data/index.html"]["size"] = 0  # emptied on the way
    message = _fails(floor.test_the_recorded_files_are_the_snapshots_files, _app(), taken.snapshot, taken.listed)
    assert message == ("the manifest and the snapshot differ (size or presence): "
                       f"{ROOT}/{STACK}_content/_data/index.html")


def test_an_export_that_is_not_the_snapshot_fails(tmp_path: Path) -> None:
    taken = _content(tmp_path)
    wrong = taken.snapshot.model_copy(update={"files": [f.model_copy(update={"sha256": "0" * 64})
                                                        for f in taken.snapshot.files]})
    message = _fails(floor.test_the_export_holds_the_snapshots_files_in_the_backup_spec_layout, _app(), wrong)
    assert message.startswith("the export and the snapshot's files differ: "), message


def test_an_export_not_named_after_its_snapshot_fails_naming_both(tmp_path: Path) -> None:
    taken = _content(tmp_path)
    renamed = taken.snapshot.model_copy(update={"export": str(tmp_path / "other.tar.gz")})
    message = _fails(floor.test_the_export_holds_the_snapshots_files_in_the_backup_spec_layout, _app(), renamed)
    assert message == f"the export {tmp_path / 'other.tar.gz'} is not named after its snapshot: expected 0123abcd.tar.gz"


# -- witnesses ---------------------------------------------------------------------------------

def test_a_witness_the_snapshot_lacks_or_holds_otherwise_fails(tmp_path: Path) -> None:
    taken = _content(tmp_path)
    lacking = taken.snapshot.model_copy(update={"files": [f for f in taken.snapshot.files if f.path != WITNESS.path]})
    assert "(not taken)" in _fails(floor.test_every_witness_is_in_the_snapshot_with_the_bytes_planted,
                                   lacking, RecipeMeta.model_validate({}))
    changed = taken.snapshot.model_copy(update={"witnesses": [WITNESS.model_copy(update={"sha256": "1" * 64})]})
    assert "(not as planted)" in _fails(floor.test_every_witness_is_in_the_snapshot_with_the_bytes_planted,
                                        changed, RecipeMeta.model_validate({}))


def test_without_witnesses_the_check_skips_saying_why(tmp_path: Path) -> None:
    bare = _content(tmp_path).snapshot.model_copy(update={"witnesses": []})
    with pytest.raises(pytest.skip.Exception, match="SKIP_WITNESSES = 'the app deletes unknown files'"):
        floor.test_every_witness_is_in_the_snapshot_with_the_bytes_planted(
            bare, RecipeMeta.model_validate({"SKIP_WITNESSES": "the app deletes unknown files"}))
    with pytest.raises(pytest.skip.Exception, match="no backed-up directory"):
        floor.test_every_witness_is_in_the_snapshot_with_the_bytes_planted(bare, RecipeMeta.model_validate({}))


# -- the labels (issue 11 point 3: the floor agrees with the op) ---------------------------------

def test_an_excluded_volume_is_left_out(tmp_path: Path) -> None:
    _labels_hold(_taken(tmp_path, {("content", "a"): b"a"}, {"content": []}, ["content", "logs"],
                        labels={"backupbot.backup.volumes.logs": "false"}, excluded=["logs"]))


def test_every_path_a_label_names_missing_is_not_a_failure(tmp_path: Path) -> None:
    # an uploads folder a fresh install has not created yet: the op notes it and takes the rest
    _labels_hold(_taken(tmp_path, {("content", "a"): b"a"}, {"content": []}, ["content", "data"],
                        labels={"backupbot.backup.volumes.data.path": "uploads,exports"},
                        missing=["data:exports", "data:uploads"]))


def test_a_label_naming_a_volume_the_stack_lacks_is_not_a_failure(tmp_path: Path) -> None:
    _labels_hold(_taken(tmp_path, {("content", "a"): b"a"}, {"content": []}, ["content"],
                        labels={"backupbot.backup.volumes.typo": "false", "backupbot.backup.volumes.typo.path": "x"}))


def test_a_volume_both_excluded_and_path_limited_is_excluded_not_a_failure(tmp_path: Path) -> None:
    _labels_hold(_taken(tmp_path, {("content", "a"): b"a"}, {"content": []}, ["content", "data"],
                        labels={"backupbot.backup.volumes.data": "false", "backupbot.backup.volumes.data.path": "d"},
                        excluded=["data"]))


def test_a_path_inside_a_taken_path_is_covered(tmp_path: Path) -> None:
    _labels_hold(_taken(tmp_path, {("data", "media/a"): b"a"}, {"data": ["media"]}, ["data"],
                        labels={"backupbot.backup.volumes.data.path": "media,media/thumbs"}))


def test_a_volume_not_taken_without_a_label_saying_so_fails(tmp_path: Path) -> None:
    taken = _taken(tmp_path, {("content", "a"): b"a"}, {"content": []}, ["content", "data"])
    message = _fails(floor.test_every_volume_of_the_stack_is_taken_unless_a_label_excludes_it, taken.snapshot,
                     taken.labels)
    assert message == "volume(s) of the stack neither taken nor excluded by a label: data"


def test_a_volume_excluded_without_its_label_fails(tmp_path: Path) -> None:
    taken = _taken(tmp_path, {("content", "a"): b"a"}, {"content": []}, ["content", "data"], excluded=["data"])
    message = _fails(floor.test_every_volume_of_the_stack_is_taken_unless_a_label_excludes_it, taken.snapshot,
                     taken.labels)
    assert message == ("the backup's exclusions are not the labels': data left out, though no "
                       "`backupbot.backup.volumes.data=false` label excludes it")


def test_a_whole_volume_taken_despite_its_path_label_fails(tmp_path: Path) -> None:
    taken = _taken(tmp_path, {("data", "a"): b"a"}, {"data": []}, ["data"],
                   labels={"backupbot.backup.volumes.data.path": "uploads"})
    assert "yet the whole volume was taken" in _fails(floor.test_a_path_label_limits_its_volume_to_those_paths,
                                                      taken.snapshot, taken.labels)


def test_a_labelled_path_neither_taken_nor_noted_missing_fails(tmp_path: Path) -> None:
    taken = _taken(tmp_path, {("data", "uploads/a"): b"a"}, {"data": ["uploads"]}, ["data"],
                   labels={"backupbot.backup.volumes.data.path": "uploads,exports"})
    assert "exports" in _fails(floor.test_a_path_label_limits_its_volume_to_those_paths, taken.snapshot, taken.labels)
