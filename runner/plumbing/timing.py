"""Time the run spent waiting on something outside the harness (docker, restic), summed per kind.

`with waiting("docker"): ...` around a wait; `waits()` gives the totals for results.json. Nested
or overlapping waits (threads of one teardown) count once, as the kind of the first to start:
the clock runs while any wait is open, so the sum never exceeds the wall time.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

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
