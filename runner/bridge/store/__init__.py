"""The durable state of the bridge: an SQLite inbox of comments, the job queue, the outbox of
replies, poll cursors, the nightly schedule's last day, one module per table over one connection (`db.py`, whose transaction
helper every write goes through).

Inbox rows are keyed by `delivery_key`, so a comment that arrives twice (webhook retry, webhook +
poll) is evaluated once. Evaluating one is one transaction (`decide`): the inbox row is closed,
the job queued, and the reply it owes the PR written to the outbox, together or not at all; the
outbox is sent afterwards, so a kill between the two loses no reply. Jobs move queued ->
running -> finished | lost, or queued -> cancelled (the PR closed or moved while it waited); a
job that was running when the bridge died is resumed, re-queued or marked lost by the
dispatcher, never dropped.
"""

from __future__ import annotations

from pathlib import Path

from runner.bridge.store.cursors import CursorsTable
from runner.bridge.store.db import Database
from runner.bridge.store.inbox import Decision, InboxItem, InboxTable
from runner.bridge.store.jobs import (
    RUN_ID_RE,
    TERMINAL_STATES,
    Job,
    JobsTable,
    NewJob,
    attempt_run_id,
    make_run_id,
)
from runner.bridge.store.outbox import OutboxItem, OutboxTable, Reply
from runner.bridge.store.schedule import ScheduleTable

__all__ = [
    "RUN_ID_RE",
    "TERMINAL_STATES",
    "Decision",
    "InboxItem",
    "Job",
    "NewJob",
    "OutboxItem",
    "Reply",
    "Store",
    "attempt_run_id",
    "make_run_id",
]


class Store(InboxTable, JobsTable, OutboxTable, CursorsTable, ScheduleTable):
    """The five tables over one database, as one object: what the bridge's parts are handed."""

    def __init__(self, path: Path) -> None:
        super().__init__(Database(path))

    def close(self) -> None:
        self._db.close()
