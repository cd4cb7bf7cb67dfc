"""When the nightly catalogue run is due: pure, fed the time, the configured time of day and zone,
and the last day a run was started for (the bridge's store remembers it).

A day's run is due from its time of day on, until it has been started: so a run missed while the
bridge was down is started once when it comes back (however many days it was down: the newest
day only), and a restart after it started never starts it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

LATE_AFTER = timedelta(minutes=5)  # later than this past its time: the run was missed, say so


@dataclass(frozen=True)
class Due:
    day: date  # the day (in the configured zone) whose run this is
    slot: datetime  # that day at the configured time, in the configured zone
    late: bool  # started well after its time: the bridge was down (or still busy) at the time


def latest_slot(now: datetime, at: time, zone: tzinfo) -> datetime:
    """The newest moment at `at` in `zone` that is not after `now` (aware)."""
    local = now.astimezone(zone)
    slot = datetime.combine(local.date(), at, tzinfo=zone)
    return slot if slot <= local else datetime.combine(local.date() - timedelta(days=1), at, tzinfo=zone)


def next_slot(now: datetime, at: time, zone: tzinfo) -> datetime:
    """The first moment at `at` in `zone` after `now`."""
    return datetime.combine(latest_slot(now, at, zone).date() + timedelta(days=1), at, tzinfo=zone)


def due(now: datetime, at: time, zone: tzinfo, last_day: date | None) -> Due | None:
    """The run to start now, if any: the newest day whose time has come and whose run was not
    started yet."""
    slot = latest_slot(now, at, zone)
    if last_day is not None and last_day >= slot.date():
        return None
    return Due(day=slot.date(), slot=slot, late=now - slot > LATE_AFTER)
