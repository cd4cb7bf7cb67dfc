"""The app's volumes, read and written through a helper container that mounts them, never through
the app's own containers: tar streams out and in, file digests, and the harness's witness files.

Everything here goes through the Docker archive API (`get_archive`/`put_archive`), which needs
no shell and no exec in the helper, so no output can be lost on the way (moby#27289).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import posixpath
import secrets
import tarfile
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import IO

import docker
from docker.errors import APIError, ImageNotFound, NotFound
from docker.models.containers import Container

from runner.errors import InfraError
from runner.evidence import proof
from runner.evidence.proof import Key, Seen
from runner.plumbing import timing
from runner.run.opstate import Witness
from runner.swarm.stack import STACK_LABEL

HELPER_IMAGE = "ccci-local/backup-helper:1"  # built by `cc-ci swarm up` (tests/fixtures/images)
HELPER_LEASE_S = 3600  # the command a helper would run if someone started it: never for long
VOLUMES_ROOT = "/var/lib/docker/volumes"

DockerNames = dict[str, str]  # volume name in the recipe -> docker volume name


def volume_root(docker_name: str) -> str:
    """Where backup-bot-two's layout (and the helper container) puts a volume's files."""
    return f"{VOLUMES_ROOT}/{docker_name}/_data"


def in_volume(docker_name: str, path: str) -> str:
    return volume_root(docker_name) + (f"/{path}" if path else "")


# -- the helper container ---------------------------------------------------------------------

@contextlib.contextmanager
def helper_container(client: docker.DockerClient, stack: str, docker_volumes: list[str],
                     read_only: bool) -> Iterator[Container]:
    """A container mounting the volumes at /var/lib/docker/volumes/<name>/_data, created but never
    started: the archive API reads and writes a created container's volumes all the same, and a
    start (and the kill of a running one) cost ~0.2 s a use, a sixth of an install run's overhead.
    It runs nothing, so nothing of it outlives the harness but the object itself, which carries
    the stack's label and name: teardown and gc remove it with the stack."""
    try:
        client.images.get(HELPER_IMAGE)
    except ImageNotFound:
        raise InfraError(f"the backup helper image {HELPER_IMAGE} is missing; run `cc-ci swarm up`") from None
    mode = "ro" if read_only else "rw"
    container = client.containers.create(
        HELPER_IMAGE, ["sleep", str(HELPER_LEASE_S)], name=f"{stack}_backup-helper_{secrets.token_hex(4)}",
        network_mode="none", labels={STACK_LABEL: stack},
        volumes={name: {"bind": volume_root(name), "mode": mode} for name in docker_volumes})
    try:
        yield container
    finally:
        with contextlib.suppress(NotFound, APIError):  # gone already (a teardown racing us)
            container.remove(force=True)


def started_at(helper: Container) -> int:
    """When the helper was made, in whole seconds of the engine's clock (the clock that stamps the
    volumes' files): nothing it writes can be older, and the archive API truncates mtimes so."""
    helper.reload()
    stamp = str(helper.attrs["Created"])  # 2026-12-01T15:31:20.465091399Z
    return int(datetime.fromisoformat(stamp.split(".")[0].removesuffix("Z") + "+00:00").timestamp())


# -- tar streams --------------------------------------------------------------------------------

class ChunkReader(io.RawIOBase):
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


def sha256_of(handle: IO[bytes]) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def streamed(chunks: Iterable[bytes]) -> Iterator[tuple[str, int, Seen]]:
    """(member name, size, what it is) of every regular file and directory of a streamed tar."""
    with tarfile.open(fileobj=ChunkReader(chunks), mode="r|") as tar:
        for member in tar:
            if member.isdir():
                yield member.name.rstrip("/"), 0, Seen(mtime=int(member.mtime))
            elif member.isreg():
                handle = tar.extractfile(member)
                assert handle is not None
                yield member.name, member.size, Seen(mtime=int(member.mtime), sha256=sha256_of(handle))


def read_back(helper: Container, volume: str, docker_name: str, tops: list[str]) -> dict[Key, Seen]:
    """Every file and directory under each top path of a volume as it is now, by (volume, path
    from the volume root); a top that is not there gives nothing."""
    seen: dict[Key, Seen] = {}
    for top in tops:
        try:
            with timing.waiting("docker"):
                chunks, _ = helper.get_archive(in_volume(docker_name, top))
                # members are named from the top's own name: `uploads/a.png` for top `media/uploads`
                for name, _size, what in streamed(chunks):
                    seen[(volume, posixpath.join(posixpath.dirname(top), name))] = what
        except NotFound:
            continue
    return seen


def _single_file(name: str, content: bytes) -> bytes:
    """A tar holding one regular file, root-owned, mode 0644, stamped now."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(content), 0o644, int(time.time())
        tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


# -- reading digests ------------------------------------------------------------------------------

def file_digests(client: docker.DockerClient, stack: str, docker_names: DockerNames,
                 keys: list[Key]) -> dict[Key, str | None]:
    """The sha256 of each (volume, path) now, None for a file (or volume) that is not there."""
    found: dict[Key, str | None] = {key: None for key in keys}
    wanted = sorted({docker_names[v] for v, _ in keys if v in docker_names})
    if not wanted:
        return found
    with timing.waiting("docker"), helper_container(client, stack, wanted, read_only=True) as helper:
        for volume, path in keys:
            if volume not in docker_names:
                continue
            try:
                chunks, _ = helper.get_archive(in_volume(docker_names[volume], path))
            except NotFound:
                continue
            files = [what.sha256 for _name, _size, what in streamed(chunks) if what.sha256 is not None]
            found[(volume, path)] = files[0] if len(files) == 1 else None
    return found


# -- witness files ---------------------------------------------------------------------------------

def plant_witnesses(client: docker.DockerClient, stack: str, docker_names: DockerNames,
                    places: list[Key], when: str) -> list[Witness]:
    """A witness file with unique content in each place (a directory of a volume, '' its root)
    that exists as a directory; the archive API refuses a missing path or a file, which is how
    the others are found and left alone. Never creates a directory the app has not made."""
    planted: list[Witness] = []
    volumes = sorted({docker_names[v] for v, _ in places})
    if not volumes:
        return planted
    with timing.waiting("docker"), helper_container(client, stack, volumes, read_only=False) as helper:
        for volume, directory in places:
            name, content = proof.witness_name(), proof.witness_content(when)
            if _put(helper, in_volume(docker_names[volume], directory), name, content):
                planted.append(Witness(volume=volume, path=proof.witness_path(directory, name),
                                       sha256=proof.sha256(content)))
    return planted


def change_witnesses(client: docker.DockerClient, stack: str, docker_names: DockerNames,
                     witnesses: list[Witness], when: str) -> None:
    """New content in every witness, so that a restore that wrote nothing back leaves them
    changed. One that is gone already (a hook removed its directory) proves the same."""
    volumes = sorted({docker_names[w.volume] for w in witnesses if w.volume in docker_names})
    if not volumes:
        return
    with timing.waiting("docker"), helper_container(client, stack, volumes, read_only=False) as helper:
        for witness in witnesses:
            directory, name = posixpath.split(witness.path)
            _put(helper, in_volume(docker_names[witness.volume], directory), name, proof.witness_content(when))


def remove_witnesses(client: docker.DockerClient, stack: str, docker_names: DockerNames,
                     witnesses: list[Witness]) -> None:
    """Delete the witness files, in a one-shot helper (`rm -f`): the archive API cannot delete.
    Only volumes that still exist are mounted: mounting a missing one would create it."""
    present = {n for n in {docker_names[w.volume] for w in witnesses if w.volume in docker_names}
               if _exists(client, n)}
    paths = [in_volume(docker_names[w.volume], w.path) for w in witnesses
             if docker_names.get(w.volume) in present and w.path.rpartition("/")[2].startswith(proof.WITNESS_PREFIX)]
    if not paths:
        return
    with timing.waiting("docker"):
        client.containers.run(HELPER_IMAGE, ["rm", "-f", *paths], remove=True, network_mode="none",
                              name=f"{stack}_backup-helper_{secrets.token_hex(4)}", labels={STACK_LABEL: stack},
                              volumes={name: {"bind": volume_root(name), "mode": "rw"} for name in sorted(present)})


def _put(helper: Container, directory: str, name: str, content: bytes) -> bool:
    """Write one file into an existing directory; False when the directory is not there or is
    not a directory."""
    try:
        return bool(helper.put_archive(directory, _single_file(name, content)))
    except NotFound:
        return False
    except APIError as err:
        if "not a directory" in str(err):
            return False
        raise


def _exists(client: docker.DockerClient, docker_name: str) -> bool:
    try:
        client.volumes.get(docker_name)
    except NotFound:
        return False
    return True
