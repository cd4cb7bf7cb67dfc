"""A run dir read back by others than its run: the pages (`cc-ci serve`, the bridge's dashboard)
and the bridge's JSON run page share this one reader.

What a run wrote is validated once, here (pydantic, strict: the types the run writes, finite
numbers), so a page only ever handles typed values. A damaged file (wrong types, NaN or
Infinity, not JSON, too big, unreadable, a FIFO, a directory or a symlink where a file belongs) is
one `RunFileUnreadable` naming the file and why, which confines the damage to that run's row and
page ("unreadable: <why>").

Every file is opened read-only and non-blocking, one path component at a time, never through a
symlink, and read only when it is a regular file. Nothing here writes or takes a lock.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, BinaryIO, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runner.run.rundir import RunDir, RunFileUnreadable, file_kind
from runner.run.runlock import run_is_alive

MAX_JSON_BYTES = 64 * 2**20  # a results.json is some kB; an op state lists every backed-up file
MAX_TEXT_BYTES = 64 * 2**20  # a run log, a JUnit report
CHUNK = 64 * 1024

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC


class _Model(BaseModel):
    """What the run writes, exactly: no coercion ("12" is not a duration), no NaN or Infinity;
    fields a page does not read are ignored."""

    # built at first use: a run imports this module (its card state) but never reads a run dir back
    model_config = ConfigDict(strict=True, allow_inf_nan=False, extra="ignore", frozen=True, defer_build=True)


# a run lasts hours; a number far past that is damage, and would overflow a clock on the page
Seconds = Annotated[float, Field(ge=-1e7, le=1e7)]


class TierRow(_Model):
    op: str
    verdict: str
    duration_s: Seconds = 0.0
    counts: dict[str, int] = Field(default_factory=dict)
    error: str | None = None
    note: str | None = None
    generic_skipped: bool = False
    first_failure: str | None = None


class RungRow(_Model):
    level: int
    name: str
    state: str
    climbed: bool
    reason: str | None = None


class OpTiming(_Model):
    started_s: Seconds | None = None
    duration_s: Seconds | None = None
    docker_wait_s: Seconds | None = None


class DepRow(_Model):
    """One dependency of the run (`ProvidedDep.result`)."""

    name: str
    version: str | None = None
    how: str  # fresh | reused | failed
    provision_s: Seconds | None = None
    stack: str | None = None
    error: str | None = None


class Results(_Model):
    """results.json (`RunResult.to_json`), the fields pages and the bridge show."""

    run_id: str | None = None
    recipe: str | None = None
    verdict: str | None = None
    level: int | None = None
    exit_code: int | None = None
    stages: list[str] = Field(default_factory=list)
    duration_s: Seconds | None = None
    pr: int | None = None
    ref: str | None = None
    catalogue: str | None = None  # set: a catalogue run (the badge follows it)
    head_commit: str | None = None
    base: str | None = None
    base_reason: str | None = None
    deploy_count: int | None = None
    tiers: list[TierRow] = Field(default_factory=list)
    ladder: list[RungRow] = Field(default_factory=list)
    ladder_stop: str | None = None
    error: str | None = None
    error_detail: list[str] = Field(default_factory=list)
    error_op: str | None = None
    upgrade_notes: list[str] = Field(default_factory=list)
    deps: list[DepRow] = Field(default_factory=list)
    attempt: int | None = None
    teardown_clean: bool | None = None
    teardown_leftovers: list[str] | None = None
    op_durations: dict[str, Seconds] = Field(default_factory=dict)
    op_timeline: dict[str, OpTiming] = Field(default_factory=dict)


class RunJson(_Model):
    """run.json: what a page needs of it, the run's stages before its results exist."""

    stages: list[str] = Field(default_factory=list)


class OpStateView(_Model):
    """op_state.json as a page reads it (the run's own fixtures read it with `OpState.load`)."""

    recipe: str | None = None
    stages: list[str] = Field(default_factory=list)
    ops: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def backup_snapshot(self) -> dict[str, Any] | None:
        """The snapshot the run took: the first op record holding one (the backup op's `snapshot`)."""
        return next((record["snapshot"] for record in self.ops.values() if isinstance(record.get("snapshot"), dict)),
                    None)


class AppJson(_Model):
    recipe: str | None = None


class Screenshot(_Model):
    """screenshots/<when>.json: the page a screenshot was taken of, or why it never loaded."""

    url: str | None = None
    error: str | None = None


M = TypeVar("M", bound=_Model)


# reading files


def _why(err: OSError) -> str:
    """The OS's reason without the path it names: pages show it."""
    return (err.strerror or type(err).__name__).lower()


def _parts(name: str) -> list[str]:
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise RunFileUnreadable(name, "not a plain relative name")
    return parts


def open_file(root: Path, name: str) -> int | None:
    """A descriptor of the regular file `name` (`a/b`, relative to the run dir `root`), reached
    one component at a time without following a symlink; None when it does not exist."""
    parts = _parts(name)
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise RunFileUnreadable(name, _why(err)) from None
    try:
        for folder in parts[:-1]:
            inner = _open_in(fd, folder, name, directory=True)
            os.close(fd)
            fd = inner
            if fd < 0:
                return None
        found = _open_in(fd, parts[-1], name, directory=False)
        return None if found < 0 else found
    finally:
        if fd >= 0:
            os.close(fd)


def _open_in(dir_fd: int, part: str, name: str, directory: bool) -> int:
    """`part` of `dir_fd` opened as a directory or a regular file; -1 when it does not exist."""
    try:
        kind = os.stat(part, dir_fd=dir_fd, follow_symlinks=False).st_mode
        if not (stat.S_ISDIR(kind) if directory else stat.S_ISREG(kind)):
            raise RunFileUnreadable(name, f"{part} is {file_kind(kind)}, not a "
                                          f"{'directory' if directory else 'regular file'}")
        # O_NOFOLLOW, O_NONBLOCK: a symlink or a FIFO swapped in since the stat is refused, never followed or waited on
        fd = os.open(part, _DIR_FLAGS if directory else _FILE_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        return -1
    except OSError as err:
        raise RunFileUnreadable(name, _why(err)) from None
    if not directory and not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise RunFileUnreadable(name, "not a regular file")
    return fd


def read_bytes(root: Path, name: str, limit: int) -> bytes | None:
    """The file's bytes; None when absent; RunFileUnreadable when damaged or over `limit`."""
    fd = open_file(root, name)
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as handle:
        try:
            data = handle.read(limit + 1)
        except OSError as err:
            raise RunFileUnreadable(name, _why(err)) from None
    if len(data) > limit:
        raise RunFileUnreadable(name, f"larger than {limit // 2**20} MiB")
    return data


def read_text(root: Path, name: str, limit: int = MAX_TEXT_BYTES) -> str | None:
    data = read_bytes(root, name, limit)
    return None if data is None else data.decode(errors="replace")


def first_line(root: Path, name: str, size: int = 4096) -> str | None:
    fd = open_file(root, name)
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as handle:
        try:
            head = handle.read(size)
        except OSError as err:
            raise RunFileUnreadable(name, _why(err)) from None
    return head.decode(errors="replace").split("\n", 1)[0]


def stream_file(handle: BinaryIO, size: int) -> Iterator[bytes]:
    """The first `size` bytes of a file opened by `open_file` (as `handle`), in chunks, closed at
    the end (a page's file route: a log a live run appends to never outgrows the Content-Length
    sent). The caller wraps the descriptor before the response starts: a client gone before the
    first chunk never starts this generator, and only the file object's own finaliser closes it."""
    with handle:
        while size > 0 and (chunk := handle.read(min(CHUNK, size))):
            size -= len(chunk)
            yield chunk


class _NotJsonNumber(ValueError):
    pass


def _refuse_constant(name: str) -> float:
    raise _NotJsonNumber(f"{name} is not a number JSON allows")


def read_json(root: Path, name: str) -> object:
    """The file parsed as strict JSON (no NaN or Infinity); None when absent."""
    data = read_bytes(root, name, MAX_JSON_BYTES)
    if data is None:
        return None
    try:
        return json.loads(data.decode(), parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise RunFileUnreadable(name, "not UTF-8") from None
    except RecursionError:
        raise RunFileUnreadable(name, "not JSON: nested too deeply") from None
    except ValueError as err:  # JSONDecodeError, a refused constant, an integer too long to parse
        raise RunFileUnreadable(name, f"not JSON: {str(err).splitlines()[0] if str(err) else 'no value'}") from None


def validate(name: str, data: object, model: type[M]) -> M | None:
    """`data` (read from `name`) as `model`; None for None (the file is absent)."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise RunFileUnreadable(name, f"a JSON {type(data).__name__}, not an object")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise RunFileUnreadable(name, invalid_why(err)) from None


def invalid_why(err: ValidationError) -> str:
    """`stages: Input should be a valid list; level: …`: where and what, for the first three."""
    found = [f"{'.'.join(str(part) for part in e['loc']) or '(top)'}: {e['msg']}" for e in err.errors()]
    more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
    return "; ".join(found[:3]) + more


def read_model(root: Path, name: str, model: type[M]) -> M | None:
    """The file as its model; None when absent; RunFileUnreadable when damaged (the documented
    and only error)."""
    return validate(name, read_json(root, name), model)


def read_results(root: Path) -> Results | None:
    return read_model(root, RunDir.RESULTS, Results)


def read_run_json(root: Path) -> RunJson | None:
    return read_model(root, RunDir.RUN_JSON, RunJson)


def read_op_state(root: Path) -> OpStateView | None:
    return read_model(root, RunDir.OP_STATE, OpStateView)


def mtime(root: Path, name: str) -> float | None:
    try:
        return (root / name).lstat().st_mtime
    except OSError:
        return None


def listing(root: Path, pattern: str) -> list[str]:
    """The regular files matching `pattern` (a name or a one-level glob: `logs/tier-*.log`),
    relative to the run dir, sorted; a folder that is a symlink lists nothing."""
    folder, _, leaf = pattern.rpartition("/")
    try:
        if folder and not stat.S_ISDIR((root / folder).lstat().st_mode):
            return []
        with os.scandir(root / folder if folder else root) as found:
            names = [entry.name for entry in found
                     if fnmatch.fnmatchcase(entry.name, leaf) and entry.is_file(follow_symlinks=False)]
    except OSError:
        return []
    return sorted(f"{folder}/{name}" if folder else name for name in names)


# one run


@dataclass(frozen=True)
class RunRead:
    """One run dir as pages and the bridge see it. `unreadable` says why a part of it could not
    be read (one line, no server path); what could be read is still there."""

    path: Path
    recipe: str | None
    results: Results | None
    stages: tuple[str, ...]
    alive: bool
    finished_at: float | None
    started_at: float | None
    unreadable: str | None = None

    @property
    def state(self) -> str:
        return "running" if self.alive else "finished" if self.results is not None else "lost"


def read_run(path: Path) -> RunRead:
    """Never raises for what is in the run dir: damage is recorded in `unreadable`."""
    problems: list[str] = []

    def attempt(read: Any, *args: Any) -> Any:
        try:
            return read(*args)
        except RunFileUnreadable as err:
            problems.append(str(err))
            return None

    raw = attempt(read_json, path, RunDir.RESULTS)
    results = attempt(validate, RunDir.RESULTS, raw, Results)
    alive = bool(attempt(run_is_alive, path))
    run_json = attempt(read_run_json, path) if results is None else None
    op_state = attempt(read_op_state, path) if results is None else None
    salvaged = raw.get("recipe") if isinstance(raw, dict) and isinstance(raw.get("recipe"), str) else None
    recipe = (results.recipe if results else None) or salvaged or _recipe_elsewhere(path, op_state, attempt)
    stages = tuple((results.stages if results else None) or (run_json.stages if run_json else None)
                   or (op_state.stages if op_state else None) or ())
    finished = mtime(path, RunDir.RESULTS) if results is not None and not alive else None
    duration = results.duration_s if results else None
    started = finished - duration if finished and duration else mtime(path, RunDir.LOGS)
    return RunRead(path, recipe, results, stages, alive, finished, started,
                   "; ".join(problems) or None)


def _recipe_elsewhere(path: Path, op_state: OpStateView | None, attempt: Any) -> str | None:
    """A running run's recipe: app.json, its op state, else its first log line
    (`cloning <recipe> from <source>`)."""
    app = attempt(read_model, path, RunDir.APP_JSON, AppJson)
    if app is not None and app.recipe:
        return str(app.recipe)
    if op_state is not None and op_state.recipe:
        return op_state.recipe
    found = _CLONING.match(attempt(first_line, path, RunDir.RUN_LOG) or "")
    return found["recipe"] if found else None


_CLONING = re.compile(r"^\s*\d+(?:\.\d+)?s cloning (?P<recipe>\S+) from ")
