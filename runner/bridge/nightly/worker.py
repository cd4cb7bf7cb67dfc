"""The nightly thread: looks at the clock (at least once a minute, and at each run's time), and
starts the day's catalogue run when it is due, in this thread, so that `!testme` jobs (the
dispatcher's threads) never wait for it.

The day is written to the bridge's store *before* its run starts: a bridge that dies during the
run does not start that day's run again when it comes back (the history keeps the recipes the
run finished). The first start with `nightly:` records the newest past time as done: nothing was
missed before there was a schedule, so the first run is at the next time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, time, tzinfo
from typing import Protocol

from runner.bridge.nightly.when import Due, due, latest_slot, next_slot

log = logging.getLogger("cc-ci.bridge")

SCHEDULE_NAME = "nightly"
MAX_SLEEP_SECONDS = 60.0  # a clock moved by hand (or a suspended host) is noticed within a minute


class DayMemory(Protocol):
    def last_day(self, name: str) -> date | None: ...

    def set_last_day(self, name: str, day: date) -> None: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Nightly:
    def __init__(self, at: time, zone: tzinfo, memory: DayMemory, run: Callable[[Due], None],
                 now: Callable[[], datetime] = _utc_now) -> None:
        self._at = at
        self._zone = zone
        self._memory = memory
        self._run = run
        self._now = now
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def when(self, moment: datetime) -> str:
        return moment.astimezone(self._zone).strftime("%Y-%m-%d %H:%M %Z")

    def tick(self) -> Due | None:
        """One look at the clock: start the due run (and return it), or do nothing."""
        now = self._now()
        last = self._memory.last_day(SCHEDULE_NAME)
        if last is None:
            self._memory.set_last_day(SCHEDULE_NAME, latest_slot(now, self._at, self._zone).date())
            log.info("nightly: first start with a schedule; the first catalogue run is at %s",
                     self.when(next_slot(now, self._at, self._zone)))
            return None
        found = due(now, self._at, self._zone, last)
        if found is None:
            return None
        self._memory.set_last_day(SCHEDULE_NAME, found.day)
        if found.late:
            log.warning("nightly: the catalogue run due at %s was missed (the bridge was down, or the "
                        "previous catalogue run was still running); running it once now", self.when(found.slot))
        else:
            log.info("nightly: the catalogue run of %s starts", self.when(found.slot))
        self._run(found)
        return found

    def seconds_to_next(self) -> float:
        now = self._now()
        return max(0.0, (next_slot(now, self._at, self._zone) - now).total_seconds())

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="nightly", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        # A catalogue run under way is not waited for: its runs are processes of their own that
        # end (and tear down) by themselves; the history keeps what finished.
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=1)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - one bad night must not end the schedule
                log.exception("nightly: the catalogue run failed")
            self._stopping.wait(min(self.seconds_to_next(), MAX_SLEEP_SECONDS))
