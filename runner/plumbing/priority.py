"""Putting processes a run waits on back to its own priority.

Work that only may overlap the run (a browser starting while docker deploys, a tier's pytest
starting ahead) starts niced; once the run waits on it, it must not crawl behind everyone else's
work on a loaded machine. Nice is per thread on Linux, so every thread of every process below is
set, not only each process's first thread.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def unnice(tids: list[int], parent: int) -> None:
    """`tids` and every thread of every process descended from `parent` that runs niced below
    this thread's priority, back to it (nice is per thread on Linux). Best effort: raising a
    priority needs CAP_SYS_NICE, and a process may end meanwhile."""
    own = os.getpriority(os.PRIO_PROCESS, 0)
    for tid in [*tids, *(tid for pid in descendants(parent) for tid in threads(pid))]:
        with contextlib.suppress(OSError):
            if os.getpriority(os.PRIO_PROCESS, tid) > own:
                os.setpriority(os.PRIO_PROCESS, tid, own)


def descendants(parent: int) -> list[int]:
    """The processes below `parent` (children, theirs, …), read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, pending = [], [parent]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def threads(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(task.name) for task in Path(f"/proc/{pid}/task").iterdir() if task.name.isdigit()]
    return []
