"""Whether a run is alive, and which run dirs are old enough to prune.

A live run holds an exclusive flock on `<run dir>/run.lock` for its whole life; the kernel drops
it however the process dies, so a driver's gc can tell an orphaned app from a live one.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from runner.harness.rundir import RunDir


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Held for the whole run; the kernel releases it when the process dies, however it dies."""
    with RunDir(run_dir).lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield


def run_is_alive(run_dir: Path) -> bool:
    lock = RunDir(run_dir).lock
    if not lock.exists():
        return False
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def run_dir_age_seconds(run_dir: Path, now: float) -> float:
    """How long ago the run last wrote: its results, else the dir itself."""
    results = RunDir(run_dir).results
    return now - (results if results.exists() else run_dir).stat().st_mtime


def stale_run_dirs(runs_dir: Path, older_than_seconds: float, now: float,
                   keep: frozenset[str] = frozenset()) -> list[Path]:
    """Run dirs older than the limit whose run is not alive and not in `keep` (run ids that still
    have objects on the swarm: their run dir is the evidence of what they were)."""
    if not runs_dir.is_dir():
        return []
    return [run_dir for run_dir in sorted(runs_dir.iterdir())
            if run_dir.is_dir() and run_dir.name not in keep
            and run_dir_age_seconds(run_dir, now) > older_than_seconds
            and not run_is_alive(run_dir)]
