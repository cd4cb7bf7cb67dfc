"""Work for the moments a run waits on docker anyway.

A wait that has nothing to do but sleep (the deploy's convergence) calls `run()` first: what was
put `later` happens then, on the run's own thread, while the engine works — not on the run's
critical path before the deploy (e.g. importing httpx, which the run first needs after it).
"""

from __future__ import annotations

from collections.abc import Callable

_pending: list[Callable[[], object]] = []


def later(work: Callable[[], object]) -> None:
    _pending.append(work)


def run() -> None:
    """Do what is pending, in the order it was put; each piece once."""
    while _pending:
        _pending.pop(0)()
