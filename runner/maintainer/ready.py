"""READY_PROBE: after an op has converged, poll the recipe's probe until it says the app is
ready, so that a slow app is not asserted half-started."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from runner.errors import InfraError

POLL_S = 1.0


class NotReady(InfraError):
    """READY_PROBE never returned true before the deploy timeout."""


def wait_ready(probe: Callable[[Any], bool], ctx: Any, timeout_s: float, poll_s: float | None = None,
               clock: Callable[[], float] = time.monotonic,
               sleep: Callable[[float], None] = time.sleep) -> tuple[int, float]:
    """Call `probe(ctx)` until it returns true; (polls, seconds waited). A probe that raises is
    not ready yet (apps refuse connections while they start); its last error is reported."""
    poll_s = POLL_S if poll_s is None else poll_s
    started = clock()
    polls = 0
    last = "returned False"
    while True:
        polls += 1
        try:
            if probe(ctx) is True:
                return polls, clock() - started
            last = "returned False"
        except Exception as err:  # noqa: BLE001 - the app is not up yet; keep polling
            last = f"raised {type(err).__name__}: {err}"
        if clock() - started + poll_s > timeout_s:
            name = getattr(probe, "__name__", "probe")
            raise NotReady(f"READY_PROBE ({name}) not true within {timeout_s:g}s "
                           f"({polls} poll(s)); last call {last}")
        sleep(poll_s)
