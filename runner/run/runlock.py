"""Whether a run is alive, and which run dirs are old enough to prune.

A live run holds an exclusive flock on `<run dir>/run.lock` for its whole life; the kernel drops
it however the process dies, so a driver's gc can tell an orphaned app from a live one.

Others (pages, the bridge, gc) only look: they never write, never block and never take the lock,
not even for an instant (a run starting in that instant would fail to take its own). The kernel
lists every flock in /proc/locks; the run's lock is found there by the lock file's inode.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from runner.run.rundir import RunDir, RunFileUnreadable, file_kind

PROC_LOCKS = Path("/proc/locks")


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Held for the whole run; the kernel releases it when the process dies, however it dies."""
    with RunDir(run_dir).lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield


def run_is_alive(run_dir: Path, proc_locks: Path = PROC_LOCKS) -> bool:
    """True while a process holds the run's lock. Raises RunFileUnreadable when it cannot be told:
    run.lock is not a regular file (a directory, a FIFO, a symlink) or cannot be opened."""
    lock = RunDir(run_dir).lock
    try:
        kind = lock.lstat().st_mode
    except FileNotFoundError:
        return False
    except OSError as err:
        raise RunFileUnreadable(RunDir.LOCK, _why(err)) from None
    if not stat.S_ISREG(kind):
        raise RunFileUnreadable(RunDir.LOCK, f"not a regular file ({file_kind(kind)})")
    try:  # read-only, never blocking (a FIFO swapped in after the lstat), never through a symlink
        fd = os.open(lock, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    except OSError as err:
        raise RunFileUnreadable(RunDir.LOCK, _why(err)) from None
    try:
        opened = os.fstat(fd)
    finally:
        os.close(fd)
    if not stat.S_ISREG(opened.st_mode):
        raise RunFileUnreadable(RunDir.LOCK, f"not a regular file ({file_kind(opened.st_mode)})")
    return opened.st_ino in _flocked_inodes(proc_locks)


def _flocked_inodes(proc_locks: Path) -> set[int]:
    """The inodes some process holds a flock on (`3: FLOCK  ADVISORY  WRITE 1234 fe:00:2146865 0 EOF`;
    `->` lines are waiters, not holders). Matched by inode alone: the device /proc/locks prints can
    differ from stat's on stacked filesystems (overlayfs), and a chance match on another filesystem
    only makes a dead run look alive, the side that removes nothing."""
    try:
        text = proc_locks.read_text()
    except OSError as err:
        raise RunFileUnreadable(RunDir.LOCK, f"cannot tell whether the run holds it: {_why(err)}") from None
    found: set[int] = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK":
            found.add(int(fields[5].rsplit(":", 1)[-1]))
    return found


def _why(err: OSError) -> str:
    """The OS's reason without the path it names (pages show it)."""
    return (err.strerror or type(err).__name__).lower()


def run_dir_age_seconds(run_dir: Path, now: float) -> float:
    """How long ago the run last wrote: its results, else the dir itself."""
    results = RunDir(run_dir).results
    return now - (results if results.exists() else run_dir).stat().st_mtime


def _may_be_alive(run_dir: Path) -> bool:
    try:
        return run_is_alive(run_dir)
    except RunFileUnreadable:
        return True  # cannot tell: kept, never pruned on a guess


def stale_run_dirs(runs_dir: Path, older_than_seconds: float, now: float,
                   keep: frozenset[str] = frozenset()) -> list[Path]:
    """Run dirs older than the limit whose run is not alive and not in `keep` (run ids that still
    have objects on the swarm: their run dir is the evidence of what they were)."""
    if not runs_dir.is_dir():
        return []
    return [run_dir for run_dir in sorted(runs_dir.iterdir())
            if run_dir.is_dir() and run_dir.name not in keep
            and run_dir_age_seconds(run_dir, now) > older_than_seconds
            and not _may_be_alive(run_dir)]


@contextlib.contextmanager
def lease(run_dir: Path) -> Iterator[None]:
    """A shared lease on a shared app's run dir (a dependency's): a shared flock on its run.lock,
    held by every run that uses it, so that `run_is_alive` is true (and gc keeps it) while any
    run holds one; the kernel releases it however the run dies."""
    with RunDir(run_dir).lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        yield


@contextlib.contextmanager
def exclusive(path: Path, wait_s: float, clock: Callable[[], float] = time.monotonic,
              pause: Callable[[float], None] = time.sleep) -> Iterator[bool]:
    """An exclusive flock on `path`, waited for up to `wait_s` (0: only tried); yields whether it
    was taken. Runs deciding about one shared dependency take turns under it, so that two first
    runs never deploy it twice; gc takes it (not waiting) before it removes one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        deadline = clock() + wait_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if clock() >= deadline:
                    yield False
                    return
                pause(0.2)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
