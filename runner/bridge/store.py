"""The durable state of the bridge: an SQLite inbox of comments, the job queue, the outbox of
replies, poll cursors.

Inbox rows are keyed by `delivery_key`, so a comment that arrives twice (webhook retry, webhook +
poll) is evaluated once. Evaluating one is one transaction (`decide`): the inbox row is closed,
the job queued, and the reply it owes the PR written to the outbox, together or not at all; the
outbox is sent afterwards, so a kill between the two loses no reply. Jobs move queued ->
running -> finished | lost, or queued -> cancelled (the PR closed or moved while it waited); a
job that was running when the bridge died is resumed, re-queued or marked lost by the
dispatcher, never dropped. One connection guarded by a lock: the bridge is one process and
SQLite serialises writes anyway.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from runner.bridge.events import CommentEvent, RepoNamed

RUN_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{2,40}$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    delivery_key TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    received_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    outcome TEXT,
    decided_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try_at REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS inbox_pending ON inbox(state, next_try_at);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    base_run_id TEXT NOT NULL UNIQUE,
    run_id TEXT NOT NULL UNIQUE,
    repo TEXT NOT NULL,
    recipe TEXT NOT NULL,
    pr INTEGER NOT NULL,
    head_sha TEXT NOT NULL,
    stages TEXT NOT NULL,
    coalesce_key TEXT NOT NULL,
    delivery_key TEXT NOT NULL UNIQUE,
    requested_by TEXT NOT NULL,
    state TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 1,
    verdict TEXT,
    summary TEXT,
    external_id TEXT,
    follow_url TEXT,
    report_comment_id INTEGER,
    reported INTEGER NOT NULL DEFAULT 0,
    received_at REAL NOT NULL,
    queued_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    detail TEXT,
    head_repo TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, id);
CREATE INDEX IF NOT EXISTS jobs_coalesce ON jobs(coalesce_key, state);
CREATE TABLE IF NOT EXISTS cursors (repo TEXT PRIMARY KEY, since TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    repo TEXT NOT NULL,
    number INTEGER NOT NULL,
    job_id INTEGER,
    marker TEXT,
    body TEXT,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try_at REAL NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    sent_at REAL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(state, next_try_at);
"""

TERMINAL_STATES = ("finished", "lost", "cancelled")

# Columns added after the first release: (name, SQL type); added to an older database on open.
ADDED_COLUMNS = {"jobs": (("detail", "TEXT"), ("head_repo", "TEXT"))}


@dataclass(frozen=True)
class InboxItem:
    key: str
    event: CommentEvent
    received_at: float
    attempts: int


@dataclass(frozen=True)
class Reply:
    repo: str
    number: int
    body: str


@dataclass(frozen=True)
class Decision:
    """What evaluating one comment decided: an inbox outcome, and at most one job or reply.
    `marker` is the invisible first line of any reply to that comment: it lets the sender find
    the reply on the forge if it was created before a crash."""

    outcome: str
    job: NewJob | None = None
    reply: Reply | None = None
    marker: str = ""


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


@dataclass(frozen=True)
class NewJob:
    repo: str
    recipe: str
    pr: int
    head_sha: str
    stages: tuple[str, ...]
    coalesce_key: str
    delivery_key: str
    requested_by: str
    received_at: float
    head_repo: str | None = None  # a fork's clone URL (PullRequest.head_repo)


@dataclass(frozen=True)
class Job(RepoNamed):
    id: int
    base_run_id: str
    run_id: str
    repo: str
    recipe: str
    pr: int
    head_sha: str
    stages: tuple[str, ...]
    coalesce_key: str
    delivery_key: str
    requested_by: str
    state: str
    attempt: int
    verdict: str | None
    summary: str | None
    external_id: str | None
    follow_url: str | None
    report_comment_id: int | None
    reported: bool
    received_at: float
    queued_at: float
    started_at: float | None
    finished_at: float | None
    # For the operator only (the run page and the log, never the PR): why the run could not start.
    detail: str | None = None
    head_repo: str | None = None  # a fork's clone URL: where the run may look for head_sha


def make_run_id(recipe: str, pr: int, token: str | None = None) -> str:
    """`<recipe slug>-pr<N>-<random>`: readable in `docker stack ls`, unique across bridge restarts."""
    base = recipe.rstrip("/").rsplit("/", 1)[-1].lower()
    slug = re.sub(r"[^a-z0-9]+", "-", base).strip("-")[:16].strip("-") or "recipe"
    run_id = f"{slug}-pr{pr}-{token or secrets.token_hex(3)}"
    assert RUN_ID_RE.match(run_id), run_id
    return run_id


def attempt_run_id(base_run_id: str, attempt: int) -> str:
    # A retried attempt gets its own run id: two attempts must never share a run dir or stack.
    return base_run_id if attempt == 1 else f"{base_run_id}-a{attempt}"


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=30
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        # A state dir written by an older bridge lacks these columns; CREATE IF NOT EXISTS kept it.
        for table, columns in ADDED_COLUMNS.items():
            have = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            for name, kind in columns:
                if name not in have:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # inbox

    def add_to_inbox(self, key: str, event: CommentEvent, now: float | None = None) -> bool:
        """True if this comment is new; False for a repeat delivery of a known comment."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO inbox(delivery_key, event, received_at) VALUES (?, ?, ?)",
                (key, event.to_json(), now if now is not None else time.time()),
            )
            return cur.rowcount == 1

    def pending_inbox(self, now: float, limit: int = 50) -> list[InboxItem]:
        with self._lock:
            rows = self._db.execute(
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
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(next_try_at) FROM inbox WHERE state = 'pending'"
            ).fetchone()
        return row[0]

    def close_inbox(self, key: str, outcome: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE inbox SET state = 'done', outcome = ?, decided_at = ? WHERE delivery_key = ?",
                (outcome, time.time(), key),
            )

    def defer_inbox(self, key: str, next_try_at: float) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE inbox SET attempts = attempts + 1, next_try_at = ? WHERE delivery_key = ?",
                (next_try_at, key),
            )

    def decide(self, key: str, decision: Decision) -> str:
        """Record an evaluation in one transaction: queue its job (or find the queued job it
        joins), put the reply it owes in the outbox, close its inbox row. Returns the outcome."""
        now = time.time()
        outcome = decision.outcome
        with self._tx() as db:
            if decision.job is not None:
                job, what = self._enqueue(db, decision.job, now)
                outcome = f"{what}: {job.run_id}"
                if what == "queued":
                    self._add_outbox(db, "job", job.repo, job.pr, now, job_id=job.id)
                elif what == "coalesced":
                    self._add_outbox(
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
                self._add_outbox(
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
        with self._lock:
            rows = self._db.execute("SELECT delivery_key, outcome FROM inbox").fetchall()
        return {row[0]: row[1] for row in rows}

    # jobs

    def enqueue(self, new: NewJob, now: float | None = None) -> tuple[Job, str]:
        """Queue a job -> (job, "queued"); or return the queued job it coalesces with (same PR
        head and stages) -> (job, "coalesced"); or the job this very comment already made, when
        intake is repeated after a crash -> (job, "known")."""
        with self._tx() as db:
            return self._enqueue(db, new, now if now is not None else time.time())

    def _enqueue(self, db: sqlite3.Connection, new: NewJob, now: float) -> tuple[Job, str]:
        row = db.execute(
            "SELECT * FROM jobs WHERE delivery_key = ?", (new.delivery_key,)
        ).fetchone()
        if row is not None:
            return _job(row), "known"
        row = db.execute(
            "SELECT * FROM jobs WHERE coalesce_key = ? AND state = 'queued' ORDER BY id LIMIT 1",
            (new.coalesce_key,),
        ).fetchone()
        if row is not None:
            return _job(row), "coalesced"
        run_id = make_run_id(new.recipe, new.pr)
        cur = db.execute(
            "INSERT INTO jobs(base_run_id, run_id, repo, recipe, pr, head_sha, head_repo, stages,"
            " coalesce_key, delivery_key, requested_by, state, received_at, queued_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?)",
            (
                run_id,
                run_id,
                new.repo,
                new.recipe,
                new.pr,
                new.head_sha,
                new.head_repo,
                ",".join(new.stages),
                new.coalesce_key,
                new.delivery_key,
                new.requested_by,
                new.received_at,
                now,
            ),
        )
        created = db.execute("SELECT * FROM jobs WHERE id = ?", (cur.lastrowid,)).fetchone()
        return _job(created), "queued"

    def claim_next_queued(self, now: float | None = None) -> Job | None:
        with self._tx() as db:
            row = db.execute(
                "SELECT * FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET state = 'running', started_at = ? WHERE id = ?",
                (now if now is not None else time.time(), row["id"]),
            )
            return _job(db.execute("SELECT * FROM jobs WHERE id = ?", (row["id"],)).fetchone())

    def set_external(self, job_id: int, external_id: str | None, follow_url: str | None) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET external_id = ?, follow_url = COALESCE(?, follow_url) WHERE id = ?",
                (external_id, follow_url, job_id),
            )

    def set_follow_url(self, job_id: int, follow_url: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE jobs SET follow_url = ? WHERE id = ?", (follow_url, job_id))

    def set_detail(self, job_id: int, detail: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE jobs SET detail = ? WHERE id = ?", (detail, job_id))

    def set_report_comment(self, job_id: int, comment_id: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE jobs SET report_comment_id = ? WHERE id = ?", (comment_id, job_id))

    def finish(
        self,
        job_id: int,
        verdict: str,
        summary: str,
        state: str = "finished",
        detail: str | None = None,
    ) -> Job:
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET state = ?, verdict = ?, summary = ?, finished_at = ?,"
                " detail = COALESCE(?, detail) WHERE id = ?",
                (state, verdict, summary, time.time(), detail, job_id),
            )
            return _job(db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())

    def mark_reported(self, job_id: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE jobs SET reported = 1 WHERE id = ?", (job_id,))

    def requeue(self, job_id: int) -> Job:
        with self._tx() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            attempt = row["attempt"] + 1
            db.execute(
                "UPDATE jobs SET state = 'queued', attempt = ?, run_id = ?, external_id = NULL,"
                " started_at = NULL WHERE id = ?",
                (attempt, attempt_run_id(row["base_run_id"], attempt), job_id),
            )
            return _job(db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())

    def jobs(self, state: str | None = None) -> list[Job]:
        with self._lock:
            if state is None:
                rows = self._db.execute("SELECT * FROM jobs ORDER BY id").fetchall()
            else:
                rows = self._db.execute(
                    "SELECT * FROM jobs WHERE state = ? ORDER BY id", (state,)
                ).fetchall()
        return [_job(row) for row in rows]

    def page_of_jobs(self, offset: int, limit: int) -> tuple[list[Job], int]:
        """Jobs newest first, `limit` of them from `offset`, and how many there are in all."""
        with self._lock:
            total = self._db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
            rows = self._db.execute(
                "SELECT * FROM jobs ORDER BY id DESC LIMIT ? OFFSET ?", (limit, offset)
            ).fetchall()
        return [_job(row) for row in rows], int(total)

    def job_counts(self) -> dict[tuple[str, str], int]:
        """(state, verdict or "") -> how many jobs."""
        with self._lock:
            rows = self._db.execute(
                "SELECT state, COALESCE(verdict, ''), COUNT(*) FROM jobs GROUP BY 1, 2"
            ).fetchall()
        return {(row[0], row[1]): row[2] for row in rows}

    def unreported_finished(self) -> list[Job]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM jobs WHERE state IN ('finished', 'lost', 'cancelled') AND reported = 0"
                " ORDER BY id"
            ).fetchall()
        return [_job(row) for row in rows]

    def job(self, job_id: int) -> Job:
        with self._lock:
            return _job(self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())

    def report_comment_id(self, job_id: int) -> int | None:
        with self._lock:
            row = self._db.execute(
                "SELECT report_comment_id FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
        return row[0] if row else None

    def job_by_run_id(self, run_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM jobs WHERE run_id = ? OR base_run_id = ?", (run_id, run_id)
            ).fetchone()
        return _job(row) if row is not None else None

    # outbox

    def _add_outbox(
        self,
        db: sqlite3.Connection,
        kind: str,
        repo: str,
        number: int,
        now: float,
        job_id: int | None = None,
        marker: str | None = None,
        body: str | None = None,
    ) -> None:
        db.execute(
            "INSERT INTO outbox(kind, repo, number, job_id, marker, body, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (kind, repo, number, job_id, marker, body, now),
        )

    def claim_outbox(self, now: float) -> OutboxItem | None:
        """The oldest pending item due now, marked `sending` so no other sender takes it."""
        with self._tx() as db:
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
        with self._tx() as db:
            db.execute(
                "UPDATE outbox SET state = 'sent', sent_at = ?, error = NULL WHERE id = ?",
                (time.time(), item_id),
            )

    def outbox_retry(self, item_id: int, next_try_at: float, error: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE outbox SET state = 'pending', attempts = attempts + 1, next_try_at = ?,"
                " error = ? WHERE id = ?",
                (next_try_at, error, item_id),
            )

    def outbox_give_up(self, item_id: int, error: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE outbox SET state = 'failed', attempts = attempts + 1, error = ? WHERE id = ?",
                (error, item_id),
            )

    def release_outbox(self) -> None:
        """Items a killed bridge was sending are pending again (their sending is idempotent)."""
        with self._tx() as db:
            db.execute("UPDATE outbox SET state = 'pending' WHERE state = 'sending'")

    def outbox_counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall()
        return {row[0]: row[1] for row in rows}

    def next_outbox_try_at(self) -> float | None:
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(next_try_at) FROM outbox WHERE state = 'pending'"
            ).fetchone()
        return row[0]

    # poll cursors

    def cursor(self, repo: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT since FROM cursors WHERE repo = ?", (repo.lower(),)
            ).fetchone()
        return row[0] if row else None

    def advance_cursor(self, repo: str, since: str) -> None:
        """Move the cursor to `since` unless it is already there or later (RFC 3339, UTC `Z`:
        the strings order as the times do)."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO cursors(repo, since) VALUES (?, ?) ON CONFLICT(repo) DO UPDATE"
                " SET since = excluded.since WHERE excluded.since > cursors.since",
                (repo.lower(), since),
            )

    def set_cursor(self, repo: str, since: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO cursors(repo, since) VALUES (?, ?) ON CONFLICT(repo) DO UPDATE SET since = excluded.since",
                (repo.lower(), since),
            )


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        base_run_id=row["base_run_id"],
        run_id=row["run_id"],
        repo=row["repo"],
        recipe=row["recipe"],
        pr=row["pr"],
        head_sha=row["head_sha"],
        stages=tuple(row["stages"].split(",")),
        coalesce_key=row["coalesce_key"],
        delivery_key=row["delivery_key"],
        requested_by=row["requested_by"],
        state=row["state"],
        attempt=row["attempt"],
        verdict=row["verdict"],
        summary=row["summary"],
        external_id=row["external_id"],
        follow_url=row["follow_url"],
        report_comment_id=row["report_comment_id"],
        reported=bool(row["reported"]),
        received_at=row["received_at"],
        queued_at=row["queued_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        detail=row["detail"],
        head_repo=row["head_repo"],
    )
