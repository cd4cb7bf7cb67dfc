"""The job queue: jobs move queued -> running -> finished | lost, or queued -> cancelled (the PR
closed or moved while it waited); a job that was running when the bridge died is resumed,
re-queued or marked lost by the dispatcher, never dropped."""

from __future__ import annotations

import re
import secrets
import sqlite3
import time
from dataclasses import dataclass

from runner.bridge.forge.events import RepoNamed
from runner.bridge.store.db import Table
from runner.recipe.naming import RUN_ID

RUN_ID_RE = RUN_ID  # a run id the bridge makes is one the harness takes (RunConfig checks it)

TERMINAL_STATES = ("finished", "lost", "cancelled")


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


def enqueue_in(db: sqlite3.Connection, new: NewJob, now: float) -> tuple[Job, str]:
    """`JobsTable.enqueue` inside a transaction the caller holds (Store.decide's)."""
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


class JobsTable(Table):
    def enqueue(self, new: NewJob, now: float | None = None) -> tuple[Job, str]:
        """Queue a job -> (job, "queued"); or return the queued job it coalesces with (same PR
        head and stages) -> (job, "coalesced"); or the job this very comment already made, when
        intake is repeated after a crash -> (job, "known")."""
        with self._db.tx() as db:
            return enqueue_in(db, new, now if now is not None else time.time())

    def claim_next_queued(self, now: float | None = None) -> Job | None:
        with self._db.tx() as db:
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
        with self._db.tx() as db:
            db.execute(
                "UPDATE jobs SET external_id = ?, follow_url = COALESCE(?, follow_url) WHERE id = ?",
                (external_id, follow_url, job_id),
            )

    def set_follow_url(self, job_id: int, follow_url: str) -> None:
        with self._db.tx() as db:
            db.execute("UPDATE jobs SET follow_url = ? WHERE id = ?", (follow_url, job_id))

    def set_detail(self, job_id: int, detail: str) -> None:
        with self._db.tx() as db:
            db.execute("UPDATE jobs SET detail = ? WHERE id = ?", (detail, job_id))

    def set_report_comment(self, job_id: int, comment_id: int) -> None:
        with self._db.tx() as db:
            db.execute("UPDATE jobs SET report_comment_id = ? WHERE id = ?", (comment_id, job_id))

    def finish(
        self,
        job_id: int,
        verdict: str,
        summary: str,
        state: str = "finished",
        detail: str | None = None,
    ) -> Job:
        with self._db.tx() as db:
            db.execute(
                "UPDATE jobs SET state = ?, verdict = ?, summary = ?, finished_at = ?,"
                " detail = COALESCE(?, detail) WHERE id = ?",
                (state, verdict, summary, time.time(), detail, job_id),
            )
            return _job(db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())

    def mark_reported(self, job_id: int) -> None:
        with self._db.tx() as db:
            db.execute("UPDATE jobs SET reported = 1 WHERE id = ?", (job_id,))

    def requeue(self, job_id: int) -> Job:
        with self._db.tx() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            attempt = row["attempt"] + 1
            db.execute(
                "UPDATE jobs SET state = 'queued', attempt = ?, run_id = ?, external_id = NULL,"
                " started_at = NULL WHERE id = ?",
                (attempt, attempt_run_id(row["base_run_id"], attempt), job_id),
            )
            return _job(db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())

    def jobs(self, state: str | None = None) -> list[Job]:
        with self._db.read() as db:
            if state is None:
                rows = db.execute("SELECT * FROM jobs ORDER BY id").fetchall()
            else:
                rows = db.execute(
                    "SELECT * FROM jobs WHERE state = ? ORDER BY id", (state,)
                ).fetchall()
        return [_job(row) for row in rows]

    def page_of_jobs(self, offset: int, limit: int) -> tuple[list[Job], int]:
        """Jobs newest first, `limit` of them from `offset`, and how many there are in all."""
        with self._db.read() as db:
            total = db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
            rows = db.execute(
                "SELECT * FROM jobs ORDER BY id DESC LIMIT ? OFFSET ?", (limit, offset)
            ).fetchall()
        return [_job(row) for row in rows], int(total)

    def job_counts(self) -> dict[tuple[str, str], int]:
        """(state, verdict or "") -> how many jobs."""
        with self._db.read() as db:
            rows = db.execute(
                "SELECT state, COALESCE(verdict, ''), COUNT(*) FROM jobs GROUP BY 1, 2"
            ).fetchall()
        return {(row[0], row[1]): row[2] for row in rows}

    def unreported_finished(self) -> list[Job]:
        with self._db.read() as db:
            rows = db.execute(
                "SELECT * FROM jobs WHERE state IN ('finished', 'lost', 'cancelled') AND reported = 0"
                " ORDER BY id"
            ).fetchall()
        return [_job(row) for row in rows]

    def job(self, job_id: int) -> Job:
        with self._db.read() as db:
            return _job(db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())

    def report_comment_id(self, job_id: int) -> int | None:
        with self._db.read() as db:
            row = db.execute(
                "SELECT report_comment_id FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
        return row[0] if row else None

    def job_by_run_id(self, run_id: str) -> Job | None:
        with self._db.read() as db:
            row = db.execute(
                "SELECT * FROM jobs WHERE run_id = ? OR base_run_id = ?", (run_id, run_id)
            ).fetchone()
        return _job(row) if row is not None else None


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
