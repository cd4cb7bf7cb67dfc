"""The inbox of comments, keyed by `delivery_key`: a comment that arrives twice (webhook retry,
webhook + poll) is evaluated once. Evaluating one is one transaction (`decide`): the inbox row is
closed, the job queued, and the reply it owes the PR written to the outbox, together or not at
all."""

from __future__ import annotations

import time
from dataclasses import dataclass

from runner.bridge.forge.events import CommentEvent
from runner.bridge.store import jobs, outbox
from runner.bridge.store.db import Table
from runner.bridge.store.jobs import NewJob
from runner.bridge.store.outbox import Reply


@dataclass(frozen=True)
class InboxItem:
    key: str
    event: CommentEvent
    received_at: float
    attempts: int


@dataclass(frozen=True)
class Decision:
    """What evaluating one comment decided: an inbox outcome, and at most one job or reply.
    `marker` is the invisible first line of any reply to that comment: it lets the sender find
    the reply on the forge if it was created before a crash."""

    outcome: str
    job: NewJob | None = None
    reply: Reply | None = None
    marker: str = ""


class InboxTable(Table):
    def add_to_inbox(self, key: str, event: CommentEvent, now: float | None = None) -> bool:
        """True if this comment is new; False for a repeat delivery of a known comment."""
        with self._db.tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO inbox(delivery_key, event, received_at) VALUES (?, ?, ?)",
                (key, event.to_json(), now if now is not None else time.time()),
            )
            return cur.rowcount == 1

    def pending_inbox(self, now: float, limit: int = 50) -> list[InboxItem]:
        with self._db.read() as db:
            rows = db.execute(
                "SELECT * FROM inbox WHERE state = 'pending' AND next_try_at <= ? "
                "ORDER BY received_at LIMIT ?",
                (now, limit),
            ).fetchall()
        return [
            InboxItem(
                row["delivery_key"],
                CommentEvent.from_json(row["event"]),
                row["received_at"],
                row["attempts"],
            )
            for row in rows
        ]

    def next_inbox_retry_at(self) -> float | None:
        with self._db.read() as db:
            row = db.execute(
                "SELECT MIN(next_try_at) FROM inbox WHERE state = 'pending'"
            ).fetchone()
        return row[0]

    def close_inbox(self, key: str, outcome: str) -> None:
        with self._db.tx() as db:
            db.execute(
                "UPDATE inbox SET state = 'done', outcome = ?, decided_at = ? WHERE delivery_key = ?",
                (outcome, time.time(), key),
            )

    def defer_inbox(self, key: str, next_try_at: float) -> None:
        with self._db.tx() as db:
            db.execute(
                "UPDATE inbox SET attempts = attempts + 1, next_try_at = ? WHERE delivery_key = ?",
                (next_try_at, key),
            )

    def decide(self, key: str, decision: Decision) -> str:
        """Record an evaluation in one transaction: queue its job (or find the queued job it
        joins), put the reply it owes in the outbox, close its inbox row. Returns the outcome."""
        now = time.time()
        outcome = decision.outcome
        with self._db.tx() as db:
            if decision.job is not None:
                job, what = jobs.enqueue_in(db, decision.job, now)
                outcome = f"{what}: {job.run_id}"
                if what == "queued":
                    outbox.add_in(db, "job", job.repo, job.pr, now, job_id=job.id)
                elif what == "coalesced":
                    outbox.add_in(
                        db,
                        "coalesced",
                        decision.job.repo,
                        job.pr,
                        now,
                        job_id=job.id,
                        marker=decision.marker,
                    )
            if decision.reply is not None:
                reply = decision.reply
                outbox.add_in(
                    db,
                    "reply",
                    reply.repo,
                    reply.number,
                    now,
                    marker=decision.marker,
                    body=reply.body,
                )
            db.execute(
                "UPDATE inbox SET state = 'done', outcome = ?, decided_at = ? WHERE delivery_key = ?",
                (outcome, now, key),
            )
        return outcome

    def inbox_outcomes(self) -> dict[str, str | None]:
        with self._db.read() as db:
            rows = db.execute("SELECT delivery_key, outcome FROM inbox").fetchall()
        return {row[0]: row[1] for row in rows}
