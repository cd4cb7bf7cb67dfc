"""The generic floor after backup: the backup took a snapshot (or the recipe's labels are why not);
it is in the run's restic repository, readable with its password, and holds what backup-bot-two's
labels say (every included volume and path, nothing excluded); its manifest and its export are the
snapshot's files; and every witness file the harness planted before it is in it with the bytes
planted. Each check reads only the snapshot and the labels, never the live volumes, so each holds
however busy the app is. docs/generic-floor.md says more."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tarfile
from pathlib import Path
from typing import Any

import pytest

from runner.evidence.proof import few
from runner.maintainer.meta import RecipeMeta
from runner.plumbing import timing
from runner.plumbing.proc import ExecResult, run_host
from runner.recipe import backupbot
from runner.run.app import App
from runner.run.opstate import OpState, Snapshot
from runner.targets.base import Target

VOLUMES_ROOT = "/var/lib/docker/volumes"


def _restic(snapshot: Snapshot, *args: str) -> ExecResult:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "RESTIC_PASSWORD_FILE": snapshot.password_file}
    with timing.waiting("restic"):
        return run_host(["restic", "--no-cache", "-r", snapshot.repository, *args], env=env, check=False)


def _root(app: App, snapshot: Snapshot, volume: str) -> str:
    """A volume's root in the snapshot's layout: /var/lib/docker/volumes/<docker name>/_data."""
    return f"{VOLUMES_ROOT}/{snapshot.docker_volumes.get(volume, f'{app.stack}_{volume}')}/_data"


@pytest.fixture(scope="module")
def snapshot(op_state: OpState) -> Snapshot:
    taken = op_state["backup"].snapshot
    if taken is None:
        pytest.skip("the backup took no snapshot (test_the_backup_took_a_snapshot says why)")
    return taken


@pytest.fixture(scope="module")
def read_back(snapshot: Snapshot) -> ExecResult:
    """`restic ls --json <id>` of the run's repository with its password: the snapshot's own record
    (there only if the repository holds it), then every node of it. One restic call: each opens the
    repository's key, a deliberately slow derivation (~0.5 s)."""
    return _restic(snapshot, "ls", "--json", snapshot.id)


@pytest.fixture(scope="module")
def listed(read_back: ExecResult) -> dict[str, dict[str, Any]]:
    """Every node of the snapshot as restic lists it, by its path (/var/lib/docker/volumes/...)."""
    nodes = [json.loads(line) for line in read_back.stdout.splitlines()]
    return {n["path"]: n for n in nodes if n.get("struct_type") == "node"}


@pytest.fixture(scope="module")
def labels(app: App, target: Target) -> dict[str, dict[str, str]]:
    return target.service_labels(app)


def test_the_backup_took_a_snapshot(op_state: OpState) -> None:
    record = op_state["backup"]
    assert record.snapshot is not None, f"the backup took no snapshot: {record.no_snapshot}"


def test_the_snapshot_is_in_the_repository_and_readable_with_its_password(
        snapshot: Snapshot, read_back: ExecResult) -> None:
    mode = stat.S_IMODE(Path(snapshot.password_file).stat().st_mode)
    assert mode == 0o600, (f"the restic password file {snapshot.password_file} is mode {mode:04o}, expected 0600: "
                           "only the harness may read it")
    said = (read_back.stderr.strip() or read_back.stdout.strip()).splitlines()[-1:] or ["no output"]
    assert not read_back.failed, (f"restic could not list snapshot {snapshot.id} of the run's repository "
                                  f"{snapshot.repository} with its password: exit {read_back.exit_code}, {said[0]}")
    # the snapshot's record comes first (`listed` parses the nodes); restic lists an id the
    # repository lacks as nothing at all, and exits 0
    records = (json.loads(line) for line in read_back.stdout.splitlines())
    found = next((r for r in records if r.get("struct_type") == "snapshot"), {}).get("id") == snapshot.id
    ids = [] if found else [s["id"] for s in json.loads(_restic(snapshot, "snapshots", "--json").stdout or "[]")]
    assert found, (f"snapshot {snapshot.id} is not in the run's restic repository {snapshot.repository}, "
                   f"which holds {few(ids) or 'no snapshot'}")


def test_every_included_volume_and_path_is_in_the_snapshot(
    app: App, snapshot: Snapshot, listed: dict[str, dict[str, Any]]
) -> None:
    assert snapshot.volumes, (f"snapshot {snapshot.id} took no volume, expected at least one (the backup op's notes "
                              "say which volumes it left out, and why)")
    wanted = [_root(app, snapshot, vol) + (f"/{path}" if path else "")
              for vol, paths in snapshot.volumes.items() for path in (paths or [""])]
    absent = [p for p in wanted if p not in listed]
    assert absent == [], f"taken, yet not in the snapshot: {few(absent)}"


def test_nothing_outside_the_included_volumes_and_paths_is_in_the_snapshot(
    app: App, snapshot: Snapshot, listed: dict[str, dict[str, Any]]
) -> None:
    allowed = [_root(app, snapshot, vol) + (f"/{path}" if path else "")
               for vol, paths in snapshot.volumes.items() for path in (paths or [""])]
    leaked = [p for p, node in listed.items() if node["type"] != "dir"
              and not any(p == a or p.startswith(a + "/") for a in allowed)]
    assert leaked == [], f"in the snapshot, outside the included volumes and paths: {few(leaked)}"
    excluded = [p for p in listed for vol in snapshot.excluded if p.startswith(_root(app, snapshot, vol) + "/")]
    assert excluded == [], f"in the snapshot, from an excluded volume: {few(excluded)}"


def test_every_volume_of_the_stack_is_taken_unless_a_label_excludes_it(
    snapshot: Snapshot, labels: dict[str, dict[str, str]]
) -> None:
    read = backupbot.read_volume_labels(labels, snapshot.stack_volumes)
    differ = [f"{v} left out, though no `backupbot.backup.volumes.{v}=false` label excludes it"
              for v in sorted(set(snapshot.excluded) - read.excluded)]
    differ += [f"{v} not left out, though its label `backupbot.backup.volumes.{v}=false` excludes it"
               for v in sorted(read.excluded - set(snapshot.excluded))]
    assert set(snapshot.excluded) == read.excluded, "the backup's exclusions are not the labels': " + "; ".join(differ)
    # a volume whose every labelled path was missing (a fresh install's) is accounted for as missing
    all_missing = {m.partition(":")[0] for m in snapshot.missing} - set(snapshot.volumes)
    untaken = sorted(set(snapshot.stack_volumes) - set(snapshot.volumes) - set(snapshot.excluded) - all_missing)
    assert untaken == [], f"volume(s) of the stack neither taken nor excluded by a label: {', '.join(untaken)}"
    unknown = sorted(set(snapshot.volumes) - set(snapshot.stack_volumes))
    assert unknown == [], f"taken, yet no service of the stack mounts it: {', '.join(unknown)}"


def test_a_path_label_limits_its_volume_to_those_paths(snapshot: Snapshot, labels: dict[str, dict[str, str]]) -> None:
    # read as the backup op reads it: labels naming no volume of the stack, and path labels of an
    # excluded volume, are ignored (the op's notes say so); a missing path is noted, not taken
    for volume, named in backupbot.read_volume_labels(labels, snapshot.stack_volumes).limits.items():
        missing = {m.partition(":")[2] for m in snapshot.missing if m.startswith(f"{volume}:")}
        taken = set(snapshot.volumes.get(volume, []))
        assert volume not in snapshot.volumes or taken, f"a path label limits {volume}, yet the whole volume was taken"
        uncovered = [n for n in named if n not in missing and not any(n == t or n.startswith(t + "/") for t in taken)]
        assert uncovered == [], f"{volume}: labelled, neither taken nor noted missing: {', '.join(uncovered)}"


def test_the_recorded_files_are_the_snapshots_files(
    app: App, snapshot: Snapshot, listed: dict[str, dict[str, Any]]
) -> None:
    in_snapshot = {p: n["size"] for p, n in listed.items() if n["type"] == "file"}
    recorded = {f"{_root(app, snapshot, f.volume)}/{f.path}": f.size for f in snapshot.files}
    differ = sorted(p for p in set(recorded) | set(in_snapshot) if recorded.get(p) != in_snapshot.get(p))
    assert differ == [], f"the manifest and the snapshot differ (size or presence): {few(differ)}"


def test_every_witness_is_in_the_snapshot_with_the_bytes_planted(snapshot: Snapshot, meta: RecipeMeta) -> None:
    if not snapshot.witnesses:
        pytest.skip(f"no witness files: SKIP_WITNESSES = {meta.SKIP_WITNESSES!r}" if meta.SKIP_WITNESSES
                    else "no backed-up directory existed to plant a witness file in")
    taken = {(f.volume, f.path): f.sha256 for f in snapshot.files}
    wrong = [f"{w.volume}:{w.path} ({'not taken' if w.key not in taken else 'not as planted'})"
             for w in snapshot.witnesses if taken.get(w.key) != w.sha256]
    assert wrong == [], f"{len(wrong)} of {len(snapshot.witnesses)} witness file(s) not in the snapshot as planted: " \
                        f"{few(wrong)}"


def test_the_export_holds_the_snapshots_files_in_the_backup_spec_layout(app: App, snapshot: Snapshot) -> None:
    assert Path(snapshot.export).name == f"{snapshot.id}.tar.gz", (
        f"the export {snapshot.export} is not named after its snapshot: expected {snapshot.id}.tar.gz")
    exported = {}
    with tarfile.open(snapshot.export, "r:gz") as tar:
        for member in tar:
            if member.isreg():
                handle = tar.extractfile(member)
                assert handle is not None, f"{snapshot.export}: {member.name} is a regular file tar cannot read"
                exported["/" + member.name] = hashlib.sha256(handle.read()).hexdigest()
    recorded = {f"{_root(app, snapshot, f.volume)}/{f.path}": f.sha256 for f in snapshot.files}
    differ = sorted(p for p in set(recorded) | set(exported) if recorded.get(p) != exported.get(p))
    assert differ == [], f"the export and the snapshot's files differ: {few(differ)}"
