"""Time the run spent waiting on something outside the harness (docker, restic), summed per kind,
and where the rest went, per phase of the run.

`with waiting("docker"): ...` around a wait; `waits()` gives the totals for results.json. Nested
or overlapping waits (threads of one teardown) count once, as the kind of the first to start:
the clock runs while any wait is open, so the sum never exceeds the wall time.

A tier's pytest is a process of its own: its fixtures' waits (a helper container's digests, the
backup floor's restic) are counted there, written to a file at its end (`report_to`) and counted
here as well (`credit`), bounded by the wall time this process did not already spend waiting.

`with phase("clone"): ...` around a phase of the run (results.json `phases_s`): its wall time and
the waits inside it, so that the harness's own share of each phase (wall - waits) shows where a
slower run lost its time. A phase opened inside another is charged alone until it ends (a further
app's teardown inside an op), so phases never overlap and their sum never exceeds the wall time.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
import time
from collections.abc import Iterator, Mapping
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


KINDS = ("docker", "restic")
REPORT_MAX_BYTES = 4096  # a tier's report: a handful of kinds; the tier runs the recipe's code


def report_to(path: str) -> None:
    """Write this process's waits to `path` (a tier at its end, for the run that started it). Never
    raises: a report that cannot be written leaves the tier's waits uncounted, not its verdict changed."""
    with contextlib.suppress(OSError):
        Path(path).write_text(json.dumps(waits()))


def read_report(path: Path) -> dict[str, float]:
    """The waits a tier reported; {} when it wrote none or anything else (nothing but known kinds of
    finite, non-negative seconds is taken from the file: the tier ran a maintainer's code)."""
    try:
        with path.open("rb") as report:
            raw = report.read(REPORT_MAX_BYTES + 1)
        data = json.loads(raw) if raw and len(raw) <= REPORT_MAX_BYTES else {}
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {kind: float(data[kind]) for kind in KINDS if isinstance(data.get(kind), int | float)
            and not isinstance(data[kind], bool) and math.isfinite(data[kind]) and data[kind] >= 0}


def mark() -> tuple[float, float]:
    """Now, and the seconds waited so far: where another process's waits are to be credited from."""
    return time.monotonic(), _waited()


def credit(waited: Mapping[str, float], since: tuple[float, float]) -> None:
    """Count another process's waits (a tier's) as this one's: at most the wall time since `since`
    (`mark()`) that this process did not spend waiting itself, so that the sum of waits still never
    exceeds the wall time."""
    started, waited_then = since
    room = max(time.monotonic() - started - (_waited() - waited_then), 0.0)
    with _lock:
        for kind, seconds in sorted(waited.items()):
            taken = min(seconds, room)
            room -= taken
            if taken > 0:
                _totals[kind] = _totals.get(kind, 0.0) + taken


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
