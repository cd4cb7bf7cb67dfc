"""The schedule's memory: per scheduled job (the nightly catalogue run), the last day it was
started for, so that a restarted bridge never starts one day's run twice."""

from __future__ import annotations

from datetime import date

from runner.bridge.store.db import Table


class ScheduleTable(Table):
    def last_day(self, name: str) -> date | None:
        with self._db.read() as db:
            row = db.execute("SELECT last_day FROM schedule WHERE name = ?", (name,)).fetchone()
        return date.fromisoformat(row[0]) if row else None

    def set_last_day(self, name: str, day: date) -> None:
        with self._db.tx() as db:
            db.execute("INSERT INTO schedule(name, last_day) VALUES (?, ?) ON CONFLICT(name) DO UPDATE"
                       " SET last_day = excluded.last_day", (name, day.isoformat()))
