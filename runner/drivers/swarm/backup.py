"""Backup and restore with backup-bot-two's semantics, on the swarm that has no backup bot.

Files are read and written through a helper container that mounts the app's volumes (read-only
for a backup), as backup-bot-two does, so that it also works where the volumes are not on the
harness's filesystem. The Docker API streams them out as a tar (`get_archive`) into a staging
dir laid out as `/var/lib/docker/volumes/<stack>_<vol>/_data/...`; restic (Debian's, on the
harness side) snapshots that dir into a repository in the run dir. Restore runs the other way:
`restic restore` into a staging dir, then `put_archive` into the live volumes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import secrets
import stat
import tarfile
import tempfile
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

import docker
from docker.errors import APIError, ImageNotFound, NotFound
from docker.models.containers import Container

from runner.drivers.swarm.reach import OutputLost
from runner.drivers.swarm.stack import STACK_LABEL, stack_services
from runner.errors import ExecError, InfraError
from runner.harness import backupbot, timing
from runner.harness.app import App
from runner.harness.backupbot import BackupPlan, Hook, Mount, StackView
from runner.harness.fileio import write_text_atomic
from runner.harness.opstate import PASSWORD_FILE, BackedUpFile, RestoreRecord, Snapshot
from runner.harness.proc import ExecResult, run_host
from runner.harness.scrub import scrubber

if TYPE_CHECKING:
    from runner.drivers.swarm.driver import SwarmDriver

HELPER_IMAGE = "ccci-local/backup-helper:1"  # built by `cc-ci swarm up` (tests/fixtures/images)
HELPER_LEASE_S = 3600  # a helper outlives a killed harness by at most this (it is started with auto-remove)
VOLUMES_ROOT = "/var/lib/docker/volumes"


def volume_root(docker_name: str) -> str:
    """Where backup-bot-two's layout (and the helper container) puts a volume's files."""
    return f"{VOLUMES_ROOT}/{docker_name}/_data"


# -- the plan, from the live stack -----------------------------------------------------------

@dataclass(frozen=True)
class LiveStack:
    view: StackView
    docker_names: dict[str, str]  # volume name in the recipe -> docker volume name (`<stack>_<vol>`)


def live_stack(client: docker.DockerClient, stack: str) -> LiveStack:
    """The deployed services' labels and mounts, and the stack's volumes, read from the swarm."""
    names = {v.name.removeprefix(f"{stack}_"): v.name
             for v in client.volumes.list(filters={"label": f"{STACK_LABEL}={stack}"})}
    by_docker_name = {d: n for n, d in names.items()}
    labels: dict[str, dict[str, str]] = {}
    mounts: dict[str, list[Mount]] = {}
    for service in stack_services(stack, client):
        key = service.name.removeprefix(f"{stack}_")
        labels[key] = dict(service.attrs["Spec"].get("Labels") or {})
        spec_mounts = service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"].get("Mounts") or []
        mounts[key] = [Mount(m["Target"].rstrip("/") or "/",
                             by_docker_name.get(m.get("Source", "")) if m.get("Type") == "volume" else None)
                       for m in spec_mounts]
    return LiveStack(StackView(labels=labels, mounts=mounts, volumes=sorted(names)), names)


def unsupported_reason(labels_by_service: dict[str, dict[str, str]]) -> str | None:
    return backupbot.unsupported_reason(labels_by_service)


def _plan(live: LiveStack) -> BackupPlan:
    try:
        return backupbot.plan(live.view)
    except backupbot.LabelError as err:
        raise InfraError(f"cannot back up: {err}") from None


# -- backup ----------------------------------------------------------------------------------

def backup(driver: SwarmDriver, app: App) -> Snapshot:
    live = live_stack(driver.client, app.stack)
    plan = _plan(live)
    for note in plan.notes:
        driver.say(f"backup: {note}")
    if not plan.volumes:
        raise InfraError(f"nothing to back up: {app.stack} has no volume"
                         + (f" that its labels do not exclude ({', '.join(plan.excluded)})" if plan.excluded else ""))
    repo = Restic.for_run(app.run_dir)
    with ThreadPoolExecutor(max_workers=1) as pool, \
            tempfile.TemporaryDirectory(prefix="staging-", dir=repo.root) as tmp:
        staging = Path(tmp)
        initialised = pool.submit(repo.init)  # ~2.5 s of key derivation, meanwhile hooks and copy run
        _run_hooks(driver, app, plan.hooks_for("backup", "pre"))
        with _post_hooks_after(driver, app, plan.hooks_for("backup", "post")):
            taken, missing = _copy_out(driver.client, app.stack, plan.volumes, live.docker_names, staging)
        initialised.result()
        for vol_path in missing:
            driver.say(f"backup: {vol_path} (named by a backupbot label) is not in the volume; not taken")
        if not taken:
            raise InfraError(f"nothing to back up: every path the labels name is missing ({', '.join(missing)})")
        snapshot_id = repo.backup(staging, [_staged(live.docker_names[v], p) for v, p in taken])
        export = repo.root / f"{snapshot_id}.tar.gz"
        _export(staging, export)
        volumes: dict[str, list[str]] = {}
        for volume, path in taken:
            volumes.setdefault(volume, []).extend([path] if path else [])
        files = _manifest(staging, {v: live.docker_names[v] for v in volumes})
    return Snapshot(id=snapshot_id, repository=str(repo.repository), export=str(export), volumes=volumes,
                    excluded=plan.excluded, missing=missing, files=files)


def _run_hooks(driver: SwarmDriver, app: App, hooks: list[Hook]) -> None:
    """Each hook in its service's running container (retried while it cycles); a non-zero
    exit fails the op with the hook's output."""
    for hook in hooks:
        driver.say(f"{hook.label} in {hook.service}: {hook.command}")
        try:
            driver.exec_in(app, hook.service, hook.command)
        except ExecError as err:
            if isinstance(err, OutputLost) and isinstance(err.result, ExecResult) and err.result.succeeded:
                # it ran and exited 0; only its log lines are gone
                driver.say(f"{hook.label} in {hook.service}: exited 0; the engine lost its output")
                continue
            output = err.result.output if isinstance(err.result, ExecResult) else ""
            tail = " | ".join(line for line in output.strip().splitlines()[-5:] if line.strip())
            raise ExecError(scrubber.scrub(f"{hook.label} on {hook.service} failed: {err}"
                                           + (f" — output: {tail}" if tail else "")), err.result) from None


@contextlib.contextmanager
def _post_hooks_after(driver: SwarmDriver, app: App, hooks: list[Hook]) -> Iterator[None]:
    """Run the post-hooks after the block, also when it failed (the pre-hooks may have put the
    app in a state they undo); the block's own error is the one reported."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(InfraError):
            _run_hooks(driver, app, hooks)
        raise
    _run_hooks(driver, app, hooks)


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
    def inside_dest(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo:
        tarfile.tar_filter(member, path)  # raises for names that would land outside dest
        return member  # ...but keep the member's mode bits, which the 'tar' filter would clear

    with tarfile.open(fileobj=_ChunkReader(chunks), mode="r|") as tar:
        tar.extractall(dest, numeric_owner=True, filter=inside_dest)


class _ChunkReader(io.RawIOBase):
    """A file object over the byte chunks of a Docker API stream."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


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
        return _sha256_of(handle)


def _sha256_of(handle: IO[bytes]) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


# -- restore ---------------------------------------------------------------------------------

def restore(driver: SwarmDriver, app: App, snapshot: Snapshot) -> RestoreRecord:
    started = time.monotonic()
    live = live_stack(driver.client, app.stack)
    plan = _plan(live)
    gone = sorted(set(snapshot.volumes) - set(live.docker_names))
    if gone:
        raise InfraError(f"cannot restore snapshot {snapshot.id[:8]}: the stack has no volume {', '.join(gone)} "
                         "any more")
    repo = Restic.for_run(app.run_dir)
    with tempfile.TemporaryDirectory(prefix="restore-", dir=repo.root) as tmp:
        staging = Path(tmp)
        repo.restore(snapshot.id, staging)
        _run_hooks(driver, app, plan.hooks_for("restore", "pre"))
        with _post_hooks_after(driver, app, plan.hooks_for("restore", "post")):
            written = _copy_in(driver.client, app.stack, snapshot, live.docker_names, staging)
    driver.wait_converged(app)
    return RestoreRecord(snapshot_id=snapshot.id, volumes=sorted(snapshot.volumes), files=written,
                         duration_s=time.monotonic() - started)


def _copy_in(client: docker.DockerClient, stack: str, snapshot: Snapshot, docker_names: dict[str, str],
             staging: Path) -> int:
    """Write what the snapshot took back into the live volumes, over what is there (files made
    since are kept, as `restic restore` would). Returns the number of regular files written."""
    written = 0
    with helper_container(client, stack, [docker_names[v] for v in snapshot.volumes], read_only=False) as helper:
        for volume, paths in snapshot.volumes.items():
            root = staging / volume_root(docker_names[volume]).lstrip("/")
            if not root.is_dir():
                continue  # a limited volume whose paths all were missing at backup time
            # the taken paths only, by their path from the volume root: parents that the
            # snapshot holds only as the way to a path keep their live owner and mode
            tops = sorted(p.name for p in root.iterdir()) if not paths else [p for p in paths if (root / p).exists()]
            with tempfile.TemporaryFile(dir=staging) as archive:
                with tarfile.open(fileobj=archive, mode="w") as tar:
                    for top in tops:
                        tar.add(root / top, arcname=top)
                archive.seek(0)
                if not helper.put_archive(volume_root(docker_names[volume]), archive):
                    raise InfraError(f"writing the snapshot back into volume {docker_names[volume]} failed")
            written += sum(1 for top in tops for _ in _regular_files_under(root / top))
    return written


def _regular_files_under(path: Path) -> Iterator[Path]:
    if path.is_symlink() or not path.is_dir():
        if stat.S_ISREG(path.lstat().st_mode):
            yield path
        return
    for dirpath, _dirs, names in os.walk(path):
        yield from (Path(dirpath) / n for n in names if stat.S_ISREG((Path(dirpath) / n).lstat().st_mode))


# -- reading live volumes (for the assertion files) -----------------------------------------

def volume_files(driver: SwarmDriver, app: App) -> dict[str, list[BackedUpFile]]:
    """Every regular file of every volume of the stack, with size and sha256, read through a
    read-only helper (nothing is written, nothing kept on disk)."""
    live = live_stack(driver.client, app.stack)
    found: dict[str, list[BackedUpFile]] = {}
    with helper_container(driver.client, app.stack, list(live.docker_names.values()), read_only=True) as helper:
        for volume, docker_name in sorted(live.docker_names.items()):
            chunks, _ = helper.get_archive(volume_root(docker_name))
            found[volume] = [BackedUpFile(volume=volume, path=path, size=size, sha256=digest)
                             for path, size, digest in _streamed_files(chunks)]
    return found


def _streamed_files(chunks: Iterable[bytes]) -> Iterator[tuple[str, int, str]]:
    with tarfile.open(fileobj=_ChunkReader(chunks), mode="r|") as tar:
        for member in tar:
            if not member.isreg():
                continue
            handle = tar.extractfile(member)
            assert handle is not None
            yield member.name.partition("/")[2], member.size, _sha256_of(handle)  # without the leading `_data/`


# -- the helper container ---------------------------------------------------------------------

@contextlib.contextmanager
def helper_container(client: docker.DockerClient, stack: str, docker_volumes: list[str],
                     read_only: bool) -> Iterator[Container]:
    """A container mounting the volumes at /var/lib/docker/volumes/<name>/_data. It carries the
    stack's label and name, so that teardown and gc reach it if the harness dies; it is started
    with auto-remove and a sleep, so that killing it removes it and it never outlives its lease."""
    try:
        client.images.get(HELPER_IMAGE)
    except ImageNotFound:
        raise InfraError(f"the backup helper image {HELPER_IMAGE} is missing; run `cc-ci swarm up`") from None
    mode = "ro" if read_only else "rw"
    container = client.containers.run(
        HELPER_IMAGE, ["sleep", str(HELPER_LEASE_S)], name=f"{stack}_backup-helper_{secrets.token_hex(4)}",
        detach=True, auto_remove=True, network_mode="none", labels={STACK_LABEL: stack},
        volumes={name: {"bind": volume_root(name), "mode": mode} for name in docker_volumes})
    try:
        yield container
    finally:
        with contextlib.suppress(NotFound, APIError):  # gone already, or auto-remove got there first
            container.remove(force=True)


# -- restic ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Restic:
    """The run's restic repository: <run dir>/backups/restic, its password in a 0600 file."""

    root: Path  # <run dir>/backups

    @classmethod
    def for_run(cls, run_dir: Path) -> Restic:
        repo = cls(run_dir / "backups")
        repo.root.mkdir(parents=True, exist_ok=True)
        if not repo.password_file.exists():
            # mkstemp makes the file 0600; the value is never scrubbed out of its own file
            write_text_atomic(repo.password_file, secrets.token_urlsafe(32), scrub=False)
        scrubber.add(repo.password_file.read_text())  # before any restic output can quote it
        return repo

    def init(self) -> None:
        if not (self.repository / "config").exists():
            self.run("init")

    @property
    def repository(self) -> Path:
        return self.root / "restic"

    @property
    def password_file(self) -> Path:
        return self.root / PASSWORD_FILE

    def run(self, *args: str, cwd: Path | None = None) -> ExecResult:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.root),
               "RESTIC_REPOSITORY": str(self.repository), "RESTIC_PASSWORD_FILE": str(self.password_file)}
        with timing.waiting("restic"):
            result = run_host(["restic", "--no-cache", *args], cwd=cwd, env=env, check=False)
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
