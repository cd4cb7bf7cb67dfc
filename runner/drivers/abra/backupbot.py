"""Backup and restore through the server's backup-bot-two, with `abra app backup` and `abra app
restore`, where the server runs one (abra finds it by the service label `BOT_LABEL`).

The bot takes the snapshot (its hooks, its restic repository on the server); the run keeps a copy
of it, `abra app backup download`, as a snapshot of the run's own repository, so the backup floor
reads what the bot took exactly as it reads cc-ci's own. `abra app restore` writes the bot's
snapshot back (its hooks again); the target then reads every file it was to write. Everything
else (the plan from the labels, the witnesses, the read-back's judgement) is the target's own
backup's (`runner/swarm/backup.py`). What rests on recollection of abra and the bot: docs/abra.md.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import tarfile
import tempfile
from pathlib import Path

import docker
from docker.errors import NotFound
from docker.models.containers import Container

from runner.drivers.abra.cli import Abra
from runner.errors import InfraError
from runner.plumbing import safetar
from runner.plumbing.scrub import scrubber
from runner.recipe.backupbot import BackupPlan
from runner.run.app import App
from runner.swarm.backup import LiveStack, Taken
from runner.swarm.volumes import helper_container, in_volume, volume_root

BOT_LABEL = "coop-cloud.backupbot.enabled"  # abra's way of finding the bot on a server
DOWNLOAD = "backup.tar.gz"  # what `abra app backup download` leaves in its working directory
LATEST = "latest"
_SAVED = re.compile(r"\bsnapshot ([0-9a-f]{8,64}) saved\b")  # restic's own line, which the bot passes on


def runs_backup_bot(client: docker.DockerClient) -> bool:
    return any(str(s.attrs["Spec"].get("Labels", {}).get(BOT_LABEL, "")).lower() == "true"
               for s in client.services.list(filters={"label": BOT_LABEL}))


def take(abra: Abra, client: docker.DockerClient, app: App, staging: Path, plan: BackupPlan,
         live: LiveStack) -> Taken:
    """`abra app backup create` (the bot runs the hooks and snapshots the volumes), then
    `abra app backup download` of that snapshot, unpacked into the staging dir."""
    created = abra("app", "backup", "create", "--no-input", "--offline", app.domain)
    found = _SAVED.findall(created.output)
    # the app's stack is the run's own, so the bot's latest snapshot of it is the one just made
    bot_snapshot = found[-1] if found else LATEST
    download = abra.abra_dir / DOWNLOAD
    download.unlink(missing_ok=True)
    abra("app", "backup", "download", "--no-input", "--offline", app.domain, "--snapshot", bot_snapshot)
    if not download.is_file():
        raise InfraError(f"`abra app backup download` left no {DOWNLOAD} in {abra.abra_dir}: cannot read what "
                         "backup-bot-two took")
    try:
        unpack_download(download, staging, set(live.docker_names.values()))
    finally:
        download.unlink()  # it may hold the app's secrets (the bot's secrets.json)
    paths, missing = _taken(client, app.stack, plan, live, staging)
    return Taken(paths, missing, bot_snapshot)


def unpack_download(download: Path, staging: Path, docker_names: set[str]) -> None:
    """The bot's download holds one tar per volume, `<docker volume>.tar` (restic's dump of
    /var/lib/docker/volumes/<name>), and `secrets.json`: each volume's files go under
    <staging>/var/lib/docker/volumes/<name>/_data, the secrets' values to the scrubber only."""
    with tarfile.open(download, "r:gz") as outer:
        for member in outer:
            name = posixpath.basename(member.name)
            if not member.isreg():
                continue
            handle = outer.extractfile(member)
            assert handle is not None
            if name == "secrets.json":
                _scrub_secrets(handle.read())
            elif name.endswith(".tar") and name.removesuffix(".tar") in docker_names:
                docker_name = name.removesuffix(".tar")
                with tempfile.TemporaryDirectory(dir=staging) as tmp, tarfile.open(fileobj=handle, mode="r|") as inner:
                    safetar.extract_volume(inner, Path(tmp))
                    dest = staging / volume_root(docker_name).lstrip("/")
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    os.rename(_data_root(Path(tmp), docker_name), dest)


def _data_root(unpacked: Path, docker_name: str) -> Path:
    """Where the volume's files are in one unpacked dump: restic names them from the filesystem
    root (var/lib/docker/volumes/<name>/_data/...), older and newer versions from the dumped dir."""
    for candidate in (unpacked / volume_root(docker_name).lstrip("/"), unpacked / "_data"):
        if candidate.is_dir():
            return candidate
    return unpacked


def _scrub_secrets(raw: bytes) -> None:
    try:
        values = json.loads(raw)
    except ValueError:
        return
    for value in (values.values() if isinstance(values, dict) else []):
        if isinstance(value, str) and value.strip():
            scrubber.add(value)


def _taken(client: docker.DockerClient, stack: str, plan: BackupPlan, live: LiveStack,
           staging: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """Each path of the plan is taken when the bot's download holds it, or when it exists in the
    live volume (then the bot should have taken it, and the floor says it did not); missing
    when it is in neither, as cc-ci's own backup notes a labelled path that is not there. The
    live volumes are read only for labelled paths the download lacks."""
    wanted = [(volume, path) for volume, paths in plan.volumes.items() for path in paths or [""]]
    unheld = [(volume, path) for volume, path in wanted if path and not
              (staging / in_volume(live.docker_names[volume], path).lstrip("/")).exists()]
    live_too: set[tuple[str, str]] = set()
    if unheld:
        with helper_container(client, stack, sorted({live.docker_names[v] for v, _ in unheld}),
                              read_only=True) as helper:
            live_too = {(v, p) for v, p in unheld if _exists(helper, in_volume(live.docker_names[v], p))}
    missing = [(v, p) for v, p in unheld if (v, p) not in live_too]
    return [key for key in wanted if key not in missing], [f"{v}:{p}" for v, p in missing]


def _exists(helper: Container, path: str) -> bool:
    """Read only where the bot's download lacks a labelled path: rarely, and then it is news."""
    try:
        chunks, _ = helper.get_archive(path)
        for _chunk in chunks:
            pass
    except NotFound:
        return False
    return True


def write_back(abra: Abra, app: App, bot_snapshot: str) -> None:
    """`abra app restore` of the bot's snapshot: its restore hooks, and its files back in the volumes."""
    abra("app", "restore", "--no-input", "--offline", app.domain, "--snapshot", bot_snapshot)
