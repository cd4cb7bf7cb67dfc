"""The outbox: replies and run reports that intake decisions owe the PRs, written in the
decision's transaction and sent afterwards (runner/bridge/outbox.py), so a kill between the two
loses no reply."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from runner.bridge.store.db import Table


@dataclass(frozen=True)
class Reply:
    repo: str
    number: int
    body: str


@dataclass(frozen=True)
class OutboxItem:
    """kind "reply": post `body` once. "job": bring the job's PR comment and commit status up
    to its state. "coalesced": tell the PR that its request joined the queued job `job_id`."""

    id: int
    kind: str
    repo: str
    number: int
    job_id: int | None
    marker: str | None
    body: str | None
    attempts: int
    created_at: float


def add_in(
    db: sqlite3.Connection,
    kind: str,
    repo: str,
    number: int,
    now: float,
    job_id: int | None = None,
    marker: str | None = None,
    body: str | None = None,
) -> None:
    """Put an item in the outbox inside a transaction the caller holds (Store.decide's)."""
    db.execute(
        "INSERT INTO outbox(kind, repo, number, job_id, marker, body, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (kind, repo, number, job_id, marker, body, now),
    )


class OutboxTable(Table):
    def claim_outbox(self, now: float) -> OutboxItem | None:
        """The oldest pending item due now, marked `sending` so no other sender takes it."""
        with self._db.tx() as db:
            row = db.execute(
                "SELECT * FROM outbox WHERE state = 'pending' AND next_try_at <= ? ORDER BY id LIMIT 1",
                (now,),
            ).fetchone()
            if row is None:
                return None
            db.execute("UPDATE outbox SET state = 'sending' WHERE id = ?", (row["id"],))
        return OutboxItem(
            id=row["id"],
            kind=row["kind"],
            repo=row["repo"],
            number=row["number"],
            job_id=row["job_id"],
            marker=row["marker"],
            body=row["body"],
            attempts=row["attempts"],
            created_at=row["created_at"],
        )

    def outbox_sent(self, item_id: int) -> None:
        with self._db.tx() as db:
            db.execute(
                "UPDATE outbox SET state = 'sent', sent_at = ?, error = NULL WHERE id = ?",
                (time.time(), item_id),
            )

    def outbox_retry(self, item_id: int, next_try_at: float, error: str) -> None:
        with self._db.tx() as db:
            db.execute(
                "UPDATE outbox SET state = 'pending', attempts = attempts + 1, next_try_at = ?,"
                " error = ? WHERE id = ?",
                (next_try_at, error, item_id),
            )

    def outbox_give_up(self, item_id: int, error: str) -> None:
        with self._db.tx() as db:
            db.execute(
                "UPDATE outbox SET state = 'failed', attempts = attempts + 1, error = ? WHERE id = ?",
                (error, item_id),
            )

    def release_outbox(self) -> None:
        """Items a killed bridge was sending are pending again (their sending is idempotent)."""
        with self._db.tx() as db:
            db.execute("UPDATE outbox SET state = 'pending' WHERE state = 'sending'")

    def outbox_counts(self) -> dict[str, int]:
        with self._db.read() as db:
            rows = db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall()
        return {row[0]: row[1] for row in rows}

    def next_outbox_try_at(self) -> float | None:
        with self._db.read() as db:
            row = db.execute(
                "SELECT MIN(next_try_at) FROM outbox WHERE state = 'pending'"
            ).fetchone()
        return row[0]
