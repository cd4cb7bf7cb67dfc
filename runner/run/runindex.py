"""The runs dir's index: one SQLite file next to the run dirs (`<runs dir>/index.sqlite`, WAL),
one row per finished run holding what the dashboard's lists show (recipe, ref, PR, stages,
level, verdict, times, catalogue). A run writes its row when its results are written
(`record.results.write_reports`); the pages read the rows instead of every results.json.

The index is a cache, never the truth: the run dirs are. A row counts only while the results.json
it was read from is the one there — each row keeps its stamp (inode, size, change time: a rewrite,
a chmod, a file swapped for a FIFO or a symlink all change it, and nobody can set a change time
back) — and only for a run dir that is there. What else changes in a finished run's dir later
(run.lock swapped for a FIFO) is not a list's business: the run's own page reads its dir. Every other run dir (older
than the index, killed before its end, running, damaged, or the whole index missing, damaged or
unreadable) is read from its dir as before, and a reader that may write puts each finished one
it read into the index (`catch_up`), so the next request finds it. Nothing here ever fails a run
or a page: every error of the index is "no row" (and logged).

What is read from the file is hostile like the run dirs: rows are bounded (lengths checked in
SQL before a value is fetched; only rows of the listed run dirs) and validated (types, finite
bounded numbers, the run id's own shape); a row that fails is no row.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sqlite3
import stat
import threading
from collections.abc import Iterable, Iterator
from dataclasses import astuple, dataclass
from pathlib import Path

from runner.recipe.naming import RUN_ID
from runner.run.readback import Results, mtime, read_results
from runner.run.rundir import RunDir, RunFileUnreadable, file_kind

log = logging.getLogger("cc-ci.runindex")

INDEX_NAME = "index.sqlite"  # not a run id (RUN_ID has no dot): never listed as a run dir
SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 10.0  # 16 runs ending at once each write one short transaction
MAX_TEXT = 1024  # recipe, ref, catalogue, verdict: far past any real one
MAX_STAGES = 4096
MAX_SECONDS = 1e12  # an epoch stamp or duration past this is damage (and would overflow a clock)

_COLUMNS = {"run_id": "TEXT PRIMARY KEY", "recipe": "TEXT", "verdict": "TEXT", "level": "INTEGER",
            "started_at": "REAL", "finished_at": "REAL", "duration_s": "REAL", "pr": "INTEGER",
            "ref": "TEXT", "stages": "TEXT", "catalogue": "TEXT", "stamp": "TEXT"}
_SCHEMA = ("CREATE TABLE IF NOT EXISTS runs ({});".format(", ".join(f"{k} {v}" for k, v in _COLUMNS.items()))
           + f"PRAGMA user_version = {SCHEMA_VERSION};")
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM runs"
# A tampered index may hold a gigabyte: past this size (file and its WAL) it is not read at all,
# which bounds every value fetched, and the next writer makes it afresh. A row is some 300 bytes.
MAX_INDEX_BYTES = 64 * 2**20


@dataclass(frozen=True)
class IndexedRun:
    """A finished run as the index holds it."""

    run_id: str
    recipe: str
    verdict: str | None
    level: int | None
    started_at: float | None
    finished_at: float
    duration_s: float | None
    pr: int | None
    ref: str | None
    stages: str  # comma-separated, as the run was asked for
    catalogue: str | None
    stamp: str  # results.json as it was when the row was read (`stamp_of`)

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(name for name in self.stages.split(",") if name)


def index_path(runs_dir: Path) -> Path:
    return runs_dir / INDEX_NAME


def stamp_of(run_dir: Path | str, dir_fd: int | None = None) -> str | None:
    """results.json's inode, size and change time (`run_dir` relative to `dir_fd` when given);
    None when it is not a regular file (no row may stand for such a run). One lstat: a page
    makes one per run dir."""
    try:
        found = os.lstat(os.path.join(run_dir, RunDir.RESULTS), dir_fd=dir_fd)
    except OSError:
        return None
    if not stat.S_ISREG(found.st_mode):
        return None
    return f"{found.st_ino}:{found.st_size}:{found.st_ctime_ns}"


def row_of(run_dir: Path, results: Results, finished_at: float, stamp: str) -> IndexedRun | None:
    """The row of a finished run read from its dir (its times as `readback.read_run` tells them);
    None when it has nothing a row can hold."""
    if results.recipe is None or RUN_ID.match(run_dir.name) is None:
        return None
    started = finished_at - results.duration_s if results.duration_s else mtime(run_dir, RunDir.LOGS)
    row = IndexedRun(run_id=run_dir.name, recipe=results.recipe, verdict=results.verdict, level=results.level,
                     started_at=started, finished_at=finished_at, duration_s=results.duration_s, pr=results.pr,
                     ref=results.ref, stages=",".join(results.stages), catalogue=results.catalogue, stamp=stamp)
    return validated(astuple(row))


def read_row(run_dir: Path) -> IndexedRun | None:
    """The row of a run dir whose results are written; None when it cannot have one (damaged)."""
    stamp = stamp_of(run_dir)
    if stamp is None:
        return None
    try:
        results = read_results(run_dir)
        finished = RunDir(run_dir).results.lstat().st_mtime
    except (RunFileUnreadable, OSError):
        return None
    if results is None or stamp_of(run_dir) != stamp:  # changed while it was read: not a row to keep
        return None
    return row_of(run_dir, results, finished, stamp)


# validation of what the file holds


def _text(value: object, limit: int = MAX_TEXT) -> bool:
    return isinstance(value, str) and len(value) <= limit and "\x00" not in value


def _optional_text(value: object) -> bool:
    return value is None or _text(value)


def _seconds(value: object) -> bool:
    return isinstance(value, float | int) and not isinstance(value, bool) and math.isfinite(value) \
        and abs(value) <= MAX_SECONDS


def _whole(value: object) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**53)


def validated(values: tuple[object, ...]) -> IndexedRun | None:
    """An index row (the columns in order) as an IndexedRun, or None when any value is not what a
    run writes: the index may be damaged or written by someone else."""
    if len(values) != len(_COLUMNS):
        return None
    run_id, recipe, verdict, level, started, finished, duration, pr, ref, stages, catalogue, stamp = values
    valid = (isinstance(run_id, str) and RUN_ID.match(run_id) is not None and _text(recipe)
             and _optional_text(verdict) and _whole(level) and (started is None or _seconds(started))
             and _seconds(finished) and (duration is None or _seconds(duration)) and _whole(pr)
             and _optional_text(ref) and _text(stages, MAX_STAGES) and _optional_text(catalogue) and _text(stamp))
    if not valid:
        return None
    return IndexedRun(run_id, recipe, verdict, level,  # type: ignore[arg-type]
                      None if started is None else float(started), float(finished),  # type: ignore[arg-type]
                      None if duration is None else float(duration), pr, ref, stages,  # type: ignore[arg-type]
                      catalogue, stamp)  # type: ignore[arg-type]


# the file


@contextlib.contextmanager
def _connect(path: Path, write: bool) -> Iterator[sqlite3.Connection]:
    if write:
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)
    else:  # a page never creates or changes the file
        db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
    try:
        yield db
    finally:
        db.close()


def _prepare(db: sqlite3.Connection) -> None:
    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        db.execute("PRAGMA journal_mode = WAL")  # readers never wait for a writer
    db.executescript(_SCHEMA)


def write_rows(runs_dir: Path, rows: Iterable[IndexedRun], keep: Iterable[str] | None = None) -> bool:
    """Put `rows` into the runs dir's index (made when missing, made afresh when damaged or too
    big), in one transaction; `keep`: the run ids whose rows may stay (the run dirs there), every
    other row is dropped. False when it could not (read-only, locked past the timeout): never raises."""
    rows = list(rows)
    path = index_path(runs_dir)
    for _ in range(2):
        try:
            if not _plain_files(path):  # never written through a symlink planted in the runs dir
                log.warning("run index %s (or its WAL) is not a regular file: made afresh", path)
                _remove(path)
            elif _oversized(path):
                log.warning("run index %s larger than %d MiB: made afresh", path, MAX_INDEX_BYTES // 2**20)
                _remove(path)
            with _connect(path, write=True) as db:
                _prepare(db)
                with db:
                    db.executemany(f"INSERT OR REPLACE INTO runs ({', '.join(_COLUMNS)}) "
                                   f"VALUES ({', '.join('?' for _ in _COLUMNS)})", [astuple(row) for row in rows])
                    if keep is not None:  # run ids are [a-z0-9-]: a JSON list needs no escaping
                        db.execute("DELETE FROM runs WHERE run_id NOT IN (SELECT value FROM json_each(?))",
                                   ("[" + ",".join(f'"{run_id}"' for run_id in keep if RUN_ID.match(run_id)) + "]",))
            return True
        except sqlite3.OperationalError as err:  # locked, read-only, no such folder: the next reader catches up
            log.warning("run index %s not written: %s", path, err)
            return False
        except sqlite3.DatabaseError as err:  # not a database, malformed: a cache, so start it afresh
            log.warning("run index %s damaged (%s): made afresh", path, err)
            _remove(path)
        except OSError as err:
            log.warning("run index %s not written: %s", path, err)
            return False
    return False


def _companions(path: Path) -> list[Path]:
    return [path.with_name(path.name + end) for end in ("", "-wal", "-shm", "-journal")]


def _plain_files(path: Path) -> bool:
    """The index and its WAL, shared memory and journal are regular files or absent."""
    try:
        for each in _companions(path):
            _regular(each)  # OSError for anything else in its place
    except OSError:
        return False
    return True


def _oversized(path: Path) -> bool:
    try:
        return sum(path.with_name(path.name + end).lstat().st_size for end in ("", "-wal")
                   if path.with_name(path.name + end).exists()) > MAX_INDEX_BYTES
    except OSError:
        return False


def _remove(path: Path) -> None:
    for each in _companions(path):
        with contextlib.suppress(OSError):
            each.unlink()  # a symlink goes, never what it points to


def read_rows(runs_dir: Path, run_ids: Iterable[str]) -> dict[str, IndexedRun]:
    """The valid rows of `run_ids` (run id -> row); {} when the index is missing, damaged, too big
    or not readable: the caller reads those run dirs itself. Never raises."""
    return IndexReader(runs_dir).rows(run_ids)


class IndexReader:
    """A long-lived reader of one runs dir's index (a server's). It keeps its connection open and
    reads the rows again only when the index changed since (SQLite's `data_version`, for what
    was written to its WAL; the file's inode, size and change time, for the rest): a page over an
    index nobody wrote to since makes no query.
    Requests run in threads: one reads at a time."""

    def __init__(self, runs_dir: Path) -> None:
        self.path = index_path(runs_dir)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._file: tuple[int, ...] | None = None  # the file the connection holds, as it was
        self._version: int | None = None
        self._rows: dict[str, IndexedRun] = {}

    def rows(self, run_ids: Iterable[str]) -> dict[str, IndexedRun]:
        wanted = list(run_ids)
        with self._lock:
            try:
                rows = self._current()
            except (sqlite3.Error, OSError, MemoryError, OverflowError) as err:
                log.warning("run index %s not read: %s", self.path, err)
                self._close()
                rows = {}
        return {name: rows[name] for name in wanted if name in rows}

    @property
    def count(self) -> int:
        """Rows read last time, those of run dirs since removed included."""
        return len(self._rows)

    def _current(self) -> dict[str, IndexedRun]:
        found = _regular(self.path)
        if found is None:  # not made yet: every run dir is read from its dir
            self._close()
            return {}
        wal = _regular(self.path.with_name(f"{INDEX_NAME}-wal"))
        _regular(self.path.with_name(f"{INDEX_NAME}-shm"))  # SQLite maps it: never through a symlink
        if found.st_size + (wal.st_size if wal else 0) > MAX_INDEX_BYTES:
            raise OSError(f"larger than {MAX_INDEX_BYTES // 2**20} MiB")
        # the file itself changed (made afresh, checkpointed, or written by something else than
        # SQLite, which data_version would not see): read it anew
        file = (found.st_dev, found.st_ino, found.st_size, found.st_ctime_ns)
        if self._db is None or self._file != file:
            self._close()
            self._db = sqlite3.connect(f"{self.path.absolute().as_uri()}?mode=ro", uri=True,
                                       timeout=BUSY_TIMEOUT_S, check_same_thread=False)
            self._file = file
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        if version != self._version:
            rows = (validated(tuple(values)) for values in self._db.execute(_SELECT))
            self._rows = {row.run_id: row for row in rows if row is not None}
            self._version = version
        return self._rows

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
        self._db, self._file, self._version, self._rows = None, None, None, {}

    def close(self) -> None:
        with self._lock:
            self._close()


def _regular(path: Path) -> os.stat_result | None:
    """The file's lstat; None when absent; OSError for anything but a regular file in its place."""
    try:
        found = path.lstat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(found.st_mode):
        raise OSError(f"{path.name} is {file_kind(found.st_mode)}, not a regular file")
    return found


def record_run(run_dir: Path) -> None:
    """The run's row, once its results are written (the run's last word on itself). Never raises:
    a run is not failed by its index, which the next page catches up."""
    try:
        row = read_row(run_dir)
    except Exception as err:  # noqa: BLE001 - a cache: whatever went wrong, the run goes on
        log.warning("run index: %s not read back: %s", run_dir.name, err)
        return
    if row is not None:
        write_rows(run_dir.parent, [row])


def current(row: IndexedRun | None, run_dir: Path | str, dir_fd: int | None = None) -> bool:
    """The row still stands for the run dir: its results.json is the one it was read from."""
    return row is not None and row.stamp == stamp_of(run_dir, dir_fd)


def writable(runs_dir: Path) -> bool:
    """Whether this process may catch the index up (else readers read unindexed dirs every time)."""
    path = index_path(runs_dir)
    return os.access(path, os.W_OK) if path.exists() else os.access(runs_dir, os.W_OK)
