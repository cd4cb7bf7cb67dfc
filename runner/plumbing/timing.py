"""Time the run spent waiting on something outside the harness (docker, restic), summed per kind,
and where the rest went, per phase of the run.

`with waiting("docker"): ...` around a wait; `waits()` gives the totals for results.json. Nested
or overlapping waits (threads of one teardown) count once, as the kind of the first to start:
the clock runs while any wait is open, so the sum never exceeds the wall time.

`with phase("clone"): ...` around a phase of the run (results.json `phases_s`): its wall time and
the waits inside it, so that the harness's own share of each phase (wall - waits) shows where a
slower run lost its time. A phase opened inside another is charged alone until it ends (a further
app's teardown inside an op), so phases never overlap and their sum never exceeds the wall time.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

_lock = threading.Lock()
_totals: dict[str, float] = {}
_open = 0
_since = 0.0
_open_kind = ""


@contextlib.contextmanager
def waiting(kind: str) -> Iterator[None]:
    global _open, _since, _open_kind
    with _lock:
        if _open == 0:
            _since, _open_kind = time.monotonic(), kind
        _open += 1
    try:
        yield
    finally:
        with _lock:
            _open -= 1
            if _open == 0:
                _totals[_open_kind] = _totals.get(_open_kind, 0.0) + time.monotonic() - _since


def waits() -> dict[str, float]:
    """Seconds spent waiting so far, per kind."""
    with _lock:
        return dict(_totals)


def reset() -> None:
    with _lock:
        _totals.clear()
        _phases.clear()


def _waited() -> float:
    """Seconds waited so far, the open wait's included."""
    with _lock:
        return sum(_totals.values()) + (time.monotonic() - _since if _open else 0.0)


_phases: dict[str, list[float]] = {}  # phase -> [wall seconds, of which waiting]
_stack: list[tuple[str, float, float]] = []  # open phases, innermost last: name, since, waited then


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """Charge the time until the block ends to phase `name` (the run's thread only)."""
    _charge_open()
    _stack.append((name, time.monotonic(), _waited()))
    try:
        yield
    finally:
        _charge_open()
        _stack.pop()
        if _stack:  # the outer phase goes on from here
            _stack[-1] = (_stack[-1][0], time.monotonic(), _waited())


def _charge_open() -> None:
    if _stack:
        name, since, waited = _stack[-1]
        wall, now_waited = time.monotonic() - since, _waited()
        entry = _phases.setdefault(name, [0.0, 0.0])
        entry[0] += wall
        entry[1] += min(now_waited - waited, wall)
        _stack[-1] = (name, time.monotonic(), now_waited)


def phases() -> dict[str, dict[str, float]]:
    """Each phase so far: its wall time and how much of it waited on docker or restic."""
    return {name: {"wall_s": wall, "waits_s": waited} for name, (wall, waited) in _phases.items()}


def process_age_s() -> float | None:
    """Seconds since this process started (interpreter start-up and imports, until now), from
    Linux's /proc; None where that cannot be read."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # stat's 22nd field: starttime, ticks after boot
        return max(time.clock_gettime(time.CLOCK_BOOTTIME) - started, 0.0)
    except (OSError, ValueError, IndexError):
        return None
