"""What proves a backup and a restore, for an app that may write to its volumes all the time. Pure.

Witness files (as YunoHost's package_check does): the harness plants its own file in every
backed-up directory before the backup and changes it once the snapshot is taken; the app never
touches it, so after the restore it is back byte for byte, or the restore did not write the
snapshot back. The read-back: right after writing the snapshot back, before the app is given
time, every restored file is read again; a file that differs is the app's doing only when it was
written (or, gone, its directory changed) after the restore began, by the engine's clock.
"""

from __future__ import annotations

import hashlib
import posixpath
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from runner.run.opstate import WITNESS_PREFIX, BackedUpFile, Witness

Key = tuple[str, str]  # (volume, path relative to its root)


def witness_name() -> str:
    return f"{WITNESS_PREFIX}{secrets.token_hex(8)}"


def witness_content(when: str) -> bytes:
    """Unique bytes that say what the file is, for whoever finds one in a volume."""
    return (f"cc-ci witness file, {when}: the CI harness planted it to prove backups and restores; "
            f"safe to delete\n{secrets.token_hex(32)}\n").encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def witness_places(volumes: dict[str, list[str]]) -> list[Key]:
    """Where witnesses go: each backed-up path of each volume ('' = the root of a whole volume).
    Only the ones that exist as directories get one; the driver finds out by trying."""
    return [(volume, path) for volume, paths in sorted(volumes.items()) for path in (paths or [""])]


def witness_path(directory: str, name: str) -> str:
    return posixpath.join(directory, name) if directory else name


def shown(key: Key) -> str:
    return f"{key[0]}:{key[1]}"


@dataclass(frozen=True)
class Seen:
    """A file or directory as read back from a volume."""

    mtime: int  # whole seconds, as the engine's archive reports it
    sha256: str | None = None  # None for a directory


@dataclass
class ReadBack:
    verified: int = 0
    rewritten_by_app: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)  # `vol:path (differs|missing)`

    def judged_otherwise(self) -> set[str]:
        """`vol:path` of every file not read back as taken."""
        return set(self.rewritten_by_app) | {m.rpartition(" (")[0] for m in self.mismatched}


def judge_read_back(taken: Iterable[BackedUpFile], seen: dict[Key, Seen], began: int,
                    witnesses: Iterable[Witness] = (), restored_mtimes: dict[Key, int] | None = None) -> ReadBack:
    """Sort each file the snapshot took by what was read back right after writing it: as taken;
    rewritten by the app (it differs, or is gone, but its file or directory was written at or
    after `began`, the moment the restore started writing, or carries the time the restore
    stamped on it); or mismatched. A witness is never the app's: any difference there is the
    restore's. `restored_mtimes`: the whole-second mtime of every file and directory the restore
    wrote, as the snapshot holds them."""
    planted = {w.key for w in witnesses}
    stamped = restored_mtimes or {}
    judged = ReadBack()
    for file in taken:
        key = (file.volume, file.path)
        now = seen.get(key)
        if now is not None and now.sha256 == file.sha256:
            judged.verified += 1
        elif key not in planted and _written_since(key, now, seen, began, stamped):
            judged.rewritten_by_app.append(shown(key))
        else:
            judged.mismatched.append(f"{shown(key)} ({'differs' if now is not None else 'missing'})")
    return judged


def _written_since(key: Key, now: Seen | None, seen: dict[Key, Seen], began: int, stamped: dict[Key, int]) -> bool:
    """The restore reached this file (or, gone, its directory) and the app wrote it since.

    The engine unpacks a file's bytes first and stamps the archive's mtime on it last (a
    directory's once all its entries are in): an app write in between leaves new bytes under the
    snapshot's old time (seen under load, a heartbeat rewritten every second). So the time the
    restore stamped counts as written by the restore too; a restore that wrote nothing leaves
    the app's own later time there, never the snapshot's."""
    def touched(at: Key, mtime: int) -> bool:
        restored = stamped.get(at)
        # whole seconds on both sides, one truncated and one maybe rounded: within a second
        return mtime >= began or (restored is not None and abs(restored - mtime) <= 1)

    if now is not None:
        return touched(key, now.mtime)
    parent_key = (key[0], posixpath.dirname(key[1]))
    parent = seen.get(parent_key)
    return parent is not None and parent.sha256 is None and touched(parent_key, parent.mtime)  # removed since


def changed_since_restore(taken: Iterable[BackedUpFile], live: dict[Key, str], skip: Iterable[str] = (),
                          witnesses: Iterable[Witness] = ()) -> list[str]:
    """`vol:path` of the files the snapshot took that differ now (or are gone), leaving out what
    `skip` already names and the witnesses (the floor judges those)."""
    left_out = set(skip) | {shown(w.key) for w in witnesses}
    return [shown(key) for file in taken
            if shown(key := (file.volume, file.path)) not in left_out and live.get(key) != file.sha256]


def few(items: list[str], limit: int = 8) -> str:
    """`a, b, c` or `a, b, … (12 in all)`: a list short enough for one line of a report."""
    return ", ".join(items) if len(items) <= limit else ", ".join(items[:limit]) + f", … ({len(items)} in all)"
