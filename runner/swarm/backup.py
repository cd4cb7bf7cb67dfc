"""The target's own backup and restore, with backup-bot-two's semantics, for a swarm that has no
backup bot (every driver may use it; the abra driver where the server runs no backup-bot-two).

Files are read and written through a helper container that mounts the app's volumes (read-only
for a backup), as backup-bot-two does, so that it also works where the volumes are not on the
harness's filesystem. The Docker API streams them out as a tar (`get_archive`) into a staging
dir laid out as `/var/lib/docker/volumes/<stack>_<vol>/_data/...`; restic (Debian's, on the
harness side) snapshots that dir into a repository in the run dir. Restore runs the other way:
`restic restore` into a staging dir, then `put_archive` into the live volumes, then every file
written is read back before the app is given time.

Witness files (`runner/evidence/proof.py`) are planted in every backed-up directory before the
pre-hooks and changed once the snapshot is taken, so that the restore can be proven for an app
that never stops writing.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import docker
from docker.errors import NotFound

from runner.errors import ExecError, InfraError
from runner.evidence import proof
from runner.evidence.proof import Key
from runner.plumbing import safetar, timing
from runner.plumbing.fileio import write_text_atomic
from runner.plumbing.priority import threads, unnice
from runner.plumbing.proc import ExecResult, run_host
from runner.plumbing.scrub import scrubber
from runner.recipe import backupbot, hookcmd
from runner.recipe.backupbot import BackupPlan, Hook, Mount, NoSnapshot, StackView
from runner.run.app import App
from runner.run.opstate import PASSWORD_FILE, BackedUpFile, RestoreRecord, Snapshot, Witness
from runner.run.rundir import RunDir
from runner.swarm.reach import OutputLost
from runner.swarm.stack import stack_services
from runner.swarm.volumes import (
    ChunkReader,
    DockerNames,
    change_witnesses,
    file_digests,
    helper_container,
    plant_witnesses,
    read_back,
    remove_witnesses,
    sha256_of,
    started_at,
    streamed,
    volume_root,
)

Say = Callable[[str], None]


class Target(Protocol):
    """What backup and restore need of a target (runner/targets/base.py's Target has it): the
    swarm's docker client and exec in an app's container. Declared here, on the floor below the
    targets, so the swarm mechanics never import a target."""

    @property
    def client(self) -> docker.DockerClient: ...

    def exec_in(self, app: App, service: str, cmd: list[str] | str, *, check: bool = True,
                rerun_if_output_lost: bool = False) -> ExecResult: ...

# -- the plan, from the live stack -----------------------------------------------------------

@dataclass(frozen=True)
class LiveStack:
    view: StackView
    docker_names: DockerNames  # volume name in the recipe -> docker volume name (`<stack>_<vol>`)


def live_stack(client: docker.DockerClient, stack: str) -> LiveStack:
    """The deployed services' labels and mounts, and the volumes they mount, read from the swarm.
    As backup-bot-two reads them: every volume a service of the stack mounts (an external one
    included, by its own name), not every volume that merely carries the stack's label."""
    labels: dict[str, dict[str, str]] = {}
    mounts: dict[str, list[Mount]] = {}
    names: DockerNames = {}
    for service in stack_services(stack, client):
        key = service.name.removeprefix(f"{stack}_")
        labels[key] = dict(service.attrs["Spec"].get("Labels") or {})
        mounts[key] = []
        for mount in service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"].get("Mounts") or []:
            source = str(mount.get("Source") or "") if mount.get("Type") == "volume" else ""
            volume = source.removeprefix(f"{stack}_") if source else None  # anonymous volumes have none
            if volume:
                names[volume] = source
            mounts[key].append(Mount(mount["Target"].rstrip("/") or "/", volume))
    return LiveStack(StackView(labels=labels, mounts=mounts, volumes=sorted(names)), names)


def unsupported_reason(labels_by_service: dict[str, dict[str, str]]) -> str | None:
    return backupbot.unsupported_reason(labels_by_service)


def _plan(live: LiveStack) -> BackupPlan:
    try:
        return backupbot.plan(live.view)
    except backupbot.LabelError as err:
        raise InfraError(f"cannot back up: {err}") from None


def backup_plan(live: LiveStack) -> BackupPlan:
    """The plan, or NoSnapshot when the recipe's labels cannot be followed or leave nothing to take."""
    try:
        plan = backupbot.plan(live.view)
    except backupbot.LabelError as err:
        raise NoSnapshot(f"the backupbot labels cannot be followed: {err}",
                         backupbot.label_warnings(live.view.labels, live.view.volumes)) from None
    reason = plan.nothing_to_take(live.view.volumes)
    if reason:
        raise NoSnapshot(reason, plan.notes)
    return plan


# -- backup ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Taken:
    """What a backup's taker put into the staging dir (laid out as /var/lib/docker/volumes/...)."""

    paths: list[tuple[str, str]]  # (volume, path) taken, '' = the whole volume
    missing: list[str]  # `vol:path` of limits that name nothing
    bot_snapshot: str | None = None  # the backup bot's own id for it, when a bot took it


# Takes the plan's files into the staging dir, hooks included: cc-ci's own (`take_files`), or
# the server's backup bot (the abra driver's, through `abra app backup`)
Take = Callable[[Path, BackupPlan, LiveStack], Taken]


def backup(target: Target, app: App, say: Say, witnesses: bool = True, take: Take | None = None) -> Snapshot:
    """Plan from the labels, plant the witnesses, let `take` take the files (cc-ci's own copy by
    default), then keep them as a snapshot of the run's restic repository with its export."""
    client = target.client
    live = live_stack(client, app.stack)
    plan = backup_plan(live)
    repo = Restic.for_run(app.run_files)
    take = take or (lambda staging, plan, live: take_files(target, app, say, staging, plan, live))
    with ThreadPoolExecutor(max_workers=1) as pool, \
            tempfile.TemporaryDirectory(prefix="staging-", dir=repo.root) as tmp:
        staging = Path(tmp)
        initialised = pool.submit(repo.init)  # ~2.5 s of key derivation, meanwhile hooks and copy run
        planted = plant_witnesses(client, app.stack, live.docker_names, proof.witness_places(plan.volumes),
                                  "planted before the backup") if witnesses else []
        taken = take(staging, plan, live)
        initialised.result()
        if not taken.paths:
            raise NoSnapshot(f"every path the backupbot labels name is missing ({', '.join(taken.missing)}): there "
                             "is nothing to back up (backup-bot-two would back up none of the app's files either)",
                             plan.notes)
        snapshot_id = repo.backup(staging, [_staged(live.docker_names[v], p) for v, p in taken.paths])
        export = repo.root / f"{snapshot_id}.tar.gz"
        _export(staging, export)
        volumes: dict[str, list[str]] = {}
        for volume, path in taken.paths:
            volumes.setdefault(volume, []).extend([path] if path else [])
        files = _manifest(staging, {v: live.docker_names[v] for v in volumes})
    # the snapshot holds the planted bytes; from now on only a restore can bring them back
    change_witnesses(client, app.stack, live.docker_names, planted, "changed after the backup")
    return Snapshot(id=snapshot_id, repository=str(repo.repository), export=str(export), volumes=volumes,
                    excluded=plan.excluded, missing=taken.missing, files=files, stack_volumes=live.view.volumes,
                    docker_volumes=dict(live.docker_names), witnesses=planted,
                    label_notes=plan.notes, bot_snapshot=taken.bot_snapshot)


def take_files(target: Target, app: App, say: Say, staging: Path, plan: BackupPlan, live: LiveStack) -> Taken:
    """cc-ci's own taking, as backup-bot-two takes: the pre-hooks, the files through a read-only
    helper container, the post-hooks (also when the copy failed)."""
    _run_hooks(target, app, say, plan.hooks_for("backup", "pre"))
    with _post_hooks_after(target, app, say, plan.hooks_for("backup", "post")):
        paths, missing = _copy_out(target.client, app.stack, plan.volumes, live.docker_names, staging)
    return Taken(paths, missing)


def _run_hooks(target: Target, app: App, say: Say, hooks: list[Hook]) -> None:
    """Each hook as backup-bot-two runs it (`bash -c 'set -o pipefail;<cmd>'`, see hookcmd) in
    its service's running container: retried while the container cycles, never run twice.
    Stricter than backup-bot-two, which logs a failing hook and goes on: here it fails the op."""
    for hook in hooks:
        say(f"{hook.label} in {hook.service}: {hook.command}")
        try:
            argv = hookcmd.hook_argv(hook.command)
        except hookcmd.UnrunnableHook as err:
            raise ExecError(scrubber.scrub(f"{hook.label} on {hook.service} failed: {err}")) from None
        try:
            result = target.exec_in(app, hook.service, argv, check=False)
        except OutputLost as err:
            lost = err.result if isinstance(err.result, ExecResult) else ExecResult(-1, "", "")
            if lost.succeeded:  # it ran and exited 0; only its log lines are gone
                say(f"{hook.label} in {hook.service}: exited 0; the engine lost its output")
                continue
            raise _hook_failed(hook, lost, "its output was lost") from None
        except ExecError as err:  # it could not be started (no running container within the retry)
            raise ExecError(scrubber.scrub(f"{hook.label} on {hook.service} failed: {err}"), err.result) from None
        if hookcmd.lacks_bash(result):
            raise ExecError(scrubber.scrub(
                f"{hook.label} on {hook.service} cannot run: the image has no bash, and backup-bot-two runs "
                "every hook with `bash -c`. In production backup-bot-two would log this and take the backup "
                "without the hook: whatever it should have made (a dump) would be silently missing"), result)
        if result.failed:
            raise _hook_failed(hook, result)


def _hook_failed(hook: Hook, result: ExecResult, note: str = "") -> ExecError:
    """`<label> on <service> failed: `<cmd>` exited N — output: <last lines>`, scrubbed."""
    lines = [line.strip()[-300:] for line in result.output.strip().splitlines() if line.strip()]
    tail = " | ".join(lines[-5:]) or "no output"
    code = "with an unknown exit code" if result.exit_code < 0 else f"exited {result.exit_code}"
    return ExecError(scrubber.scrub(f"{hook.label} on {hook.service} failed: `{hook.command}` {code}"
                                    + (f" ({note})" if note else "") + f" — output: {tail}"), result)


@contextlib.contextmanager
def _post_hooks_after(target: Target, app: App, say: Say, hooks: list[Hook]) -> Iterator[None]:
    """Run the post-hooks after the block, also when it failed (the pre-hooks may have put the
    app in a state they undo); the block's own error is the one reported."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(InfraError):
            _run_hooks(target, app, say, hooks)
        raise
    _run_hooks(target, app, say, hooks)


def _staged(docker_name: str, path: str) -> str:
    """A taken path relative to the staging dir (restic roots its tree there: /var/lib/...)."""
    return (volume_root(docker_name) + (f"/{path}" if path else "")).lstrip("/")


def _copy_out(client: docker.DockerClient, stack: str, volumes: dict[str, list[str]],
              docker_names: dict[str, str], staging: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """Stream every taken path out of the volumes into the staging dir. Returns the (volume,
    path) pairs taken ('' = the whole volume) and `vol:path` of limits that name nothing."""
    taken, missing = [], []
    with helper_container(client, stack, [docker_names[v] for v in volumes], read_only=True) as helper:
        for volume, paths in volumes.items():
            for path in paths or [""]:
                source = volume_root(docker_names[volume]) + (f"/{path}" if path else "")
                dest = staging / os.path.dirname(_staged(docker_names[volume], path))
                dest.mkdir(parents=True, exist_ok=True)
                try:
                    with timing.waiting("docker"):  # the tar streams from the engine as it is read
                        chunks, _ = helper.get_archive(source)
                        _extract(chunks, dest)
                except NotFound:
                    missing.append(f"{volume}:{path}")
                    continue
                taken.append((volume, path))
    return taken, missing


def _extract(chunks: Iterable[bytes], dest: Path) -> None:
    """Unpack a streamed tar as it comes, keeping owners (numeric) and modes as they were."""
    with tarfile.open(fileobj=ChunkReader(chunks), mode="r|") as tar:
        safetar.extract_volume(tar, dest)


def _export(staging: Path, export: Path) -> None:
    """The snapshot as a .tar.gz in the backup spec's layout (var/lib/docker/volumes/...)."""
    partial = export.with_name(f".{export.name}.partial")
    with tarfile.open(partial, "w:gz") as tar:
        tar.add(staging / "var", arcname="var")
    partial.replace(export)


def _manifest(staging: Path, docker_names: dict[str, str]) -> list[BackedUpFile]:
    files = []
    for volume, docker_name in sorted(docker_names.items()):
        root = staging / volume_root(docker_name).lstrip("/")
        files += [BackedUpFile(volume=volume, path=path, size=size, sha256=digest)
                  for path, size, digest in _regular_files(root)]
    return files


def _regular_files(root: Path) -> Iterator[tuple[str, int, str]]:
    """(path relative to root, size, sha256) of every regular file under root, symlinks not followed."""
    for dirpath, _dirs, names in os.walk(root):
        for name in sorted(names):
            full = Path(dirpath) / name
            info = full.lstat()
            if stat.S_ISREG(info.st_mode):
                yield full.relative_to(root).as_posix(), info.st_size, _sha256(full)


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return sha256_of(handle)


# -- restore ---------------------------------------------------------------------------------

# Writes the whole snapshot back into the live volumes, restore hooks included, in one go: the
# server's backup bot (the abra driver's, through `abra app restore`); None = cc-ci's own
WriteBack = Callable[[], None]


@dataclass(frozen=True)
class _Unit:
    """One volume's part of a restore: its root in the restic-restored staging dir and the taken
    paths under it, by their path from the volume root."""

    volume: str
    docker_name: str  # the live volume's
    root: Path
    tops: list[str]


def restore(target: Target, app: App, say: Say, snapshot: Snapshot,
            wait_converged: Callable[[App], Any], write_back: WriteBack | None = None) -> RestoreRecord:
    """Write the snapshot back (cc-ci's own way, or `write_back`'s), read every file written back
    at once, then wait for convergence and note what the app changed by then."""
    started = time.monotonic()
    client = target.client
    live = live_stack(client, app.stack)
    plan = _plan(live)
    gone = sorted(set(snapshot.volumes) - set(live.docker_names))
    if gone:
        raise InfraError(f"cannot restore snapshot {snapshot.id[:8]}: the stack has no volume {', '.join(gone)} "
                         "any more")
    repo = Restic.for_run(app.run_files)
    with tempfile.TemporaryDirectory(prefix="restore-", dir=repo.root) as tmp:
        staging = Path(tmp)
        repo.restore(snapshot.id, staging)  # what is written back, with the times restic stamps on it
        units = _units(snapshot, live.docker_names, staging)
        if write_back is None:
            _run_hooks(target, app, say, plan.hooks_for("restore", "pre"))
            with _post_hooks_after(target, app, say, plan.hooks_for("restore", "post")):
                written, judged = _copy_in(client, app.stack, snapshot, units)
        else:
            written, judged = _written_back_by(write_back, client, app.stack, snapshot, units)
    wait_converged(app)
    now = {(f.volume, f.path): f.sha256 for files in volume_files(client, app).values() for f in files}
    changed = proof.changed_since_restore(snapshot.files, now, judged.judged_otherwise(), snapshot.witnesses)
    return RestoreRecord(snapshot_id=snapshot.id, volumes=sorted(snapshot.volumes), files=written,
                         duration_s=time.monotonic() - started, verified=judged.verified,
                         rewritten_by_app=judged.rewritten_by_app, mismatched=judged.mismatched,
                         changed_by_app=sorted(set(judged.rewritten_by_app) | set(changed)),
                         bot_snapshot=snapshot.bot_snapshot if write_back else None)


def _units(snapshot: Snapshot, docker_names: DockerNames, staging: Path) -> list[_Unit]:
    units = []
    for volume, paths in snapshot.volumes.items():
        # the snapshot holds the volume under the backed-up stack's name: the live app's, or,
        # restoring onto a fresh app, the original's (its stack differs)
        root = staging / volume_root(snapshot.docker_volumes.get(volume, docker_names[volume])).lstrip("/")
        if not root.is_dir():
            continue  # a limited volume whose paths all were missing at backup time
        # the taken paths only, by their path from the volume root: parents that the snapshot
        # holds only as the way to a path keep their live owner and mode
        tops = sorted(p.name for p in root.iterdir()) if not paths else [p for p in paths if (root / p).exists()]
        units.append(_Unit(volume, docker_names[volume], root, tops))
    return units


def _copy_in(client: docker.DockerClient, stack: str, snapshot: Snapshot,
             units: list[_Unit]) -> tuple[int, proof.ReadBack]:
    """Write what the snapshot took back into the live volumes, over what is there (files made
    since are kept, as `restic restore` would), and read every path written back at once, before
    the app is given time. Returns the number of regular files written and the read-back's verdict."""
    written, seen, stamped = 0, dict[Key, proof.Seen](), dict[Key, int]()
    with helper_container(client, stack, [u.docker_name for u in units], read_only=False) as helper:
        began = started_at(helper)  # whatever is written from here on is the restore's or the app's
        for unit in units:
            with tempfile.TemporaryFile(dir=unit.root.parent) as archive:
                with tarfile.open(fileobj=archive, mode="w") as tar:
                    for top in unit.tops:
                        tar.add(unit.root / top, arcname=top)
                archive.seek(0)
                with timing.waiting("docker"):
                    if not helper.put_archive(volume_root(unit.docker_name), archive):
                        raise InfraError(f"writing the snapshot back into volume {unit.docker_name} failed")
            written += _files_in(unit)
            stamped |= _restored_mtimes(unit.volume, unit.root, unit.tops)
            seen |= read_back(helper, unit.volume, unit.docker_name, unit.tops)
    return written, proof.judge_read_back(snapshot.files, seen, began, snapshot.witnesses, stamped)


def _written_back_by(write_back: WriteBack, client: docker.DockerClient, stack: str, snapshot: Snapshot,
                     units: list[_Unit]) -> tuple[int, proof.ReadBack]:
    """`write_back` writes the whole snapshot, then every path it was to write is read back at
    once. Its post-restore hooks have run by then (they are the bot's): what they rewrote reads
    as the app's. The helper is made first, so its time bounds when the writing began."""
    seen, stamped = dict[Key, proof.Seen](), dict[Key, int]()
    with helper_container(client, stack, [u.docker_name for u in units], read_only=True) as helper:
        began = started_at(helper)
        write_back()
        for unit in units:
            stamped |= _restored_mtimes(unit.volume, unit.root, unit.tops)
            seen |= read_back(helper, unit.volume, unit.docker_name, unit.tops)
    written = sum(_files_in(unit) for unit in units)  # what it was to write: the snapshot's files
    return written, proof.judge_read_back(snapshot.files, seen, began, snapshot.witnesses, stamped)


def _files_in(unit: _Unit) -> int:
    return sum(1 for top in unit.tops for _ in _regular_files_under(unit.root / top))


def _restored_mtimes(volume: str, root: Path, tops: list[str]) -> dict[Key, int]:
    """The whole-second mtime the restore stamps on each file and directory it writes (the
    snapshot's, as restic restored it into the staging dir), by (volume, path from the root)."""
    stamped: dict[Key, int] = {}
    for top in tops:
        for dirpath, dirs, names in os.walk(root / top):
            for entry in [Path(dirpath), *(Path(dirpath) / n for n in dirs + names)]:
                stamped[(volume, entry.relative_to(root).as_posix())] = int(entry.lstat().st_mtime)
        if (root / top).is_symlink() or (root / top).is_file():
            stamped[(volume, top)] = int((root / top).lstat().st_mtime)
    return stamped


def _regular_files_under(path: Path) -> Iterator[Path]:
    if path.is_symlink() or not path.is_dir():
        if stat.S_ISREG(path.lstat().st_mode):
            yield path
        return
    for dirpath, _dirs, names in os.walk(path):
        yield from (Path(dirpath) / n for n in names if stat.S_ISREG((Path(dirpath) / n).lstat().st_mode))


# -- reading live volumes, and the witnesses ------------------------------------------------

def volume_files(client: docker.DockerClient, app: App) -> dict[str, list[BackedUpFile]]:
    """Every regular file of every volume of the stack, with size and sha256, read through a
    read-only helper (nothing is written, nothing kept on disk)."""
    live = live_stack(client, app.stack)
    found: dict[str, list[BackedUpFile]] = {}
    with helper_container(client, app.stack, list(live.docker_names.values()), read_only=True) as helper:
        for volume, docker_name in sorted(live.docker_names.items()):
            with timing.waiting("docker"):
                chunks, _ = helper.get_archive(volume_root(docker_name))
                # without the leading `_data/` of the volume root's own name
                found[volume] = [BackedUpFile(volume=volume, path=name.partition("/")[2], size=size,
                                              sha256=what.sha256)
                                 for name, size, what in streamed(chunks) if what.sha256 is not None]
    return found


def plant_volume_witnesses(client: docker.DockerClient, app: App) -> list[Witness]:
    """One witness in the root of every volume of the app (the install's, for the upgrade floor)."""
    live = live_stack(client, app.stack)
    return plant_witnesses(client, app.stack, live.docker_names, [(v, "") for v in live.view.volumes],
                           "planted after the install")


def remove_app_witnesses(client: docker.DockerClient, app: App, witnesses: list[Witness]) -> None:
    remove_witnesses(client, app.stack, live_stack(client, app.stack).docker_names, witnesses)


def app_file_digests(client: docker.DockerClient, app: App, keys: list[Key]) -> dict[Key, str | None]:
    return file_digests(client, app.stack, live_stack(client, app.stack).docker_names, keys)


# -- restic ------------------------------------------------------------------------------------

# repository -> its `restic init`, started ahead of the backup (Restic.init_ahead)
_initialising: dict[Path, subprocess.Popen[str]] = {}


@dataclass(frozen=True)
class Restic:
    """The run's restic repository: <run dir>/backups/restic, its password in a 0600 file."""

    root: Path  # <run dir>/backups

    @classmethod
    def for_run(cls, run_dir: RunDir) -> Restic:
        repo = cls(run_dir.backups)
        repo.root.mkdir(parents=True, exist_ok=True)
        if not repo.password_file.exists():
            # mkstemp makes the file 0600; the value is never scrubbed out of its own file
            write_text_atomic(repo.password_file, secrets.token_urlsafe(32), scrub=False)
        scrubber.add(repo.password_file.read_text())  # before any restic output can quote it
        return repo

    def init_ahead(self) -> None:
        """Start `restic init` now, in the background at the lowest priority: its ~2.5 s of key
        derivation (scrypt, calibrated) runs while the ops before the backup wait on docker, not
        within the backup. `init()` waits for it; `discard_ahead()` stops it when no backup comes."""
        if (self.repository / "config").exists() or self.repository in _initialising:
            return
        try:
            # niced by nice(1), not in a preexec_fn: the run has threads (a fork must not run Python)
            _initialising[self.repository] = subprocess.Popen(
                ["nice", "-n", "19", "restic", "--no-cache", "init"], env=self._env(), cwd=self.root, text=True,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError:
            pass  # no nice(1): init() initialises when the backup needs it

    def init(self) -> None:
        ahead = _initialising.pop(self.repository, None)
        if ahead is not None:
            unnice(threads(ahead.pid), ahead.pid)  # waited on from now: at the run's own priority
            with timing.waiting("restic"):
                ahead.communicate()
            if ahead.returncode == 0:
                return
            # it failed: initialise here, where a failure is reported as any restic call's
        if not (self.repository / "config").exists():
            self.run("init")

    @property
    def repository(self) -> Path:
        return self.root / "restic"

    @property
    def password_file(self) -> Path:
        return self.root / PASSWORD_FILE

    def _env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.root),
                "RESTIC_REPOSITORY": str(self.repository), "RESTIC_PASSWORD_FILE": str(self.password_file)}

    def run(self, *args: str, cwd: Path | None = None) -> ExecResult:
        with timing.waiting("restic"):
            result = run_host(["restic", "--no-cache", *args], cwd=cwd, env=self._env(), check=False)
        if result.exit_code == 127:
            raise InfraError("restic is not installed on the harness host; `apt-get install restic` "
                             "(or run `cc-ci swarm up` as root)")
        if result.failed:
            tail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or ["no output"]
            raise InfraError(scrubber.scrub(f"`restic {args[0]}` on {self.repository} exited "
                                            f"{result.exit_code}: {tail[0]}"))
        return result

    def backup(self, staging: Path, paths: list[str]) -> str:
        """Snapshot `paths` (relative to staging, so the tree is rooted at /var/...); the full id."""
        done = self.run("backup", "--json", "--host", "cc-ci", *paths, cwd=staging)
        summary = [json.loads(line) for line in done.stdout.splitlines() if '"summary"' in line]
        if not summary or not summary[-1].get("snapshot_id"):
            raise InfraError(f"restic backup on {self.repository} printed no snapshot id")
        # restic 0.14 prints the short id; a local repository names each snapshot file by the
        # full one, which saves a `restic snapshots` (a second key derivation, ~0.8 s)
        short = str(summary[-1]["snapshot_id"])
        found = [p.name for p in (self.repository / "snapshots").iterdir() if p.name.startswith(short)]
        if len(found) != 1:
            raise InfraError(f"restic backup made snapshot {short}, but {self.repository}/snapshots "
                             f"holds {len(found)} file(s) by that id")
        return found[0]

    def restore(self, snapshot_id: str, target: Path) -> None:
        self.run("restore", snapshot_id, "--target", str(target))


def discard_ahead() -> None:
    """The run's ops are over: an init started ahead for a backup that never came (an op before it
    failed) stops now, not after the run has gone."""
    while _initialising:
        _, ahead = _initialising.popitem()
        with contextlib.suppress(OSError):
            ahead.kill()
        ahead.communicate()
