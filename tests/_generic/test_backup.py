"""The generic floor after backup: the snapshot is in the run's restic repository, readable with
its password, and holds what backup-bot-two's labels say — every included volume and path,
nothing excluded — with no file emptied on the way."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tarfile
from pathlib import Path
from typing import Any

import pytest

from runner.drivers.base import Driver
from runner.harness import backupbot
from runner.harness.app import App
from runner.harness.opstate import BackedUpFile, OpState, Snapshot
from runner.harness.proc import ExecResult, run_host

VOLUMES_ROOT = "/var/lib/docker/volumes"


def _restic(snapshot: Snapshot, *args: str) -> ExecResult:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "RESTIC_PASSWORD_FILE": snapshot.password_file}
    return run_host(["restic", "--no-cache", "-r", snapshot.repository, *args], env=env)


def _root(app: App, volume: str) -> str:
    return f"{VOLUMES_ROOT}/{app.stack}_{volume}/_data"


@pytest.fixture(scope="module")
def snapshot(op_state: OpState) -> Snapshot:
    taken = op_state["backup"].snapshot
    assert taken is not None, "the backup op recorded no snapshot"
    return taken


@pytest.fixture(scope="module")
def listed(snapshot: Snapshot) -> dict[str, dict[str, Any]]:
    """Every node of the snapshot as restic lists it, by its path (/var/lib/docker/volumes/...)."""
    nodes = [json.loads(line) for line in _restic(snapshot, "ls", "--json", snapshot.id).stdout.splitlines()]
    return {n["path"]: n for n in nodes if n.get("struct_type") == "node"}


@pytest.fixture(scope="module")
def live(app: App, driver: Driver) -> dict[str, dict[str, BackedUpFile]]:
    """The live volumes' files now, read through the driver (read-only)."""
    return {vol: {f.path: f for f in files} for vol, files in driver.volume_files(app).items()}


def test_the_snapshot_is_in_the_repository_and_readable_with_its_password(snapshot: Snapshot) -> None:
    assert stat.S_IMODE(Path(snapshot.password_file).stat().st_mode) == 0o600
    ids = [s["id"] for s in json.loads(_restic(snapshot, "snapshots", "--json").stdout)]
    assert snapshot.id in ids


def test_every_included_volume_and_path_is_in_the_snapshot(
    app: App, snapshot: Snapshot, listed: dict[str, dict[str, Any]]
) -> None:
    assert snapshot.volumes, "the snapshot took no volume"
    wanted = [_root(app, vol) + (f"/{path}" if path else "")
              for vol, paths in snapshot.volumes.items() for path in (paths or [""])]
    assert [p for p in wanted if p not in listed] == []


def test_nothing_outside_the_included_volumes_and_paths_is_in_the_snapshot(
    app: App, snapshot: Snapshot, listed: dict[str, dict[str, Any]]
) -> None:
    allowed = [_root(app, vol) + (f"/{path}" if path else "")
               for vol, paths in snapshot.volumes.items() for path in (paths or [""])]
    leaked = [p for p, node in listed.items() if node["type"] != "dir"
              and not any(p == a or p.startswith(a + "/") for a in allowed)]
    assert leaked == []
    excluded = [p for p in listed for vol in snapshot.excluded if p.startswith(f"{VOLUMES_ROOT}/{app.stack}_{vol}/")]
    assert excluded == []


def test_every_volume_of_the_stack_is_taken_unless_a_label_excludes_it(
    app: App, driver: Driver, snapshot: Snapshot, live: dict[str, dict[str, BackedUpFile]]
) -> None:
    labels = driver.service_labels(app)
    labelled_out = {key.removeprefix(backupbot.VOLUME_PREFIX) for service in labels.values()
                    for key, value in service.items()
                    if key.startswith(backupbot.VOLUME_PREFIX) and not key.endswith(".path")
                    and value.strip().lower() == "false"}
    assert set(snapshot.excluded) == labelled_out & set(live)
    all_missing = {m.partition(":")[0] for m in snapshot.missing} - set(snapshot.volumes)
    assert set(snapshot.volumes) | set(snapshot.excluded) | all_missing == set(live)


def test_a_path_label_limits_its_volume_to_those_paths(app: App, driver: Driver, snapshot: Snapshot) -> None:
    for service in driver.service_labels(app).values():
        for key, value in service.items():
            if not (key.startswith(backupbot.VOLUME_PREFIX) and key.endswith(".path")):
                continue
            volume = key.removeprefix(backupbot.VOLUME_PREFIX).removesuffix(".path")
            named = {p.strip().strip("/") for p in value.split(",") if p.strip()}
            missing = {m.partition(":")[2] for m in snapshot.missing if m.startswith(f"{volume}:")}
            taken = set(snapshot.volumes.get(volume, []))
            assert taken, f"{key} limits {volume}, yet the whole volume was taken"
            assert all(any(n == t or n.startswith(t + "/") for t in taken) for n in named - missing), (key, taken)


def test_the_recorded_files_are_the_snapshots_files(
    app: App, snapshot: Snapshot, listed: dict[str, dict[str, Any]]
) -> None:
    in_snapshot = {p: n["size"] for p, n in listed.items() if n["type"] == "file"}
    recorded = {f"{_root(app, f.volume)}/{f.path}": f.size for f in snapshot.files}
    assert recorded == in_snapshot


def test_no_file_of_the_snapshot_is_empty_where_the_volumes_is_not(
    app: App, snapshot: Snapshot, listed: dict[str, dict[str, Any]], live: dict[str, dict[str, BackedUpFile]]
) -> None:
    emptied = []
    for vol in snapshot.volumes:
        prefix = _root(app, vol) + "/"
        for path, node in listed.items():
            now = live[vol].get(path.removeprefix(prefix)) if path.startswith(prefix) else None
            if node["type"] == "file" and node.get("size", 0) == 0 and now is not None and now.size > 0:
                emptied.append(path)
    assert emptied == []


def test_the_export_holds_the_snapshots_files_in_the_backup_spec_layout(app: App, snapshot: Snapshot) -> None:
    assert Path(snapshot.export).name == f"{snapshot.id}.tar.gz"
    exported = {}
    with tarfile.open(snapshot.export, "r:gz") as tar:
        for member in tar:
            if member.isreg():
                handle = tar.extractfile(member)
                assert handle is not None
                exported["/" + member.name] = hashlib.sha256(handle.read()).hexdigest()
    assert exported == {f"{_root(app, f.volume)}/{f.path}": f.sha256 for f in snapshot.files}
