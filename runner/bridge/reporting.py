"""Reporting back to the PR: one comment per run (posted on accept, edited as the run moves on)
and a commit status on the PR head. Bodies are built by pure functions; the Reporter posts them
and never lets a forge failure escape (it is retried by the client, then logged)."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from runner.bridge.forge import ForgeClient, ForgeError
from runner.bridge.grammar import GRAMMAR_HELP
from runner.bridge.store import Job, Store

log = logging.getLogger("cc-ci.bridge")

MAX_SUMMARY_CHARS = 50_000  # forges cap comment bodies (Gitea: 65535 bytes in MySQL)

STATUS_FOR_VERDICT = {"pass": "success", "fail": "failure", "error": "error"}
HEADLINE_FOR_VERDICT = {"pass": "passed ✅", "fail": "failed ❌", "error": "errored ⚠️"}


def _marker(job: Job) -> str:
    # An invisible first line: says which run a comment belongs to, and never starts with !testme.
    return f"<!-- cc-ci run {job.base_run_id} -->"


def _what(job: Job) -> str:
    return f"`{job.recipe}` at {job.head_sha[:10]} (stages: {', '.join(job.stages)})"


def accepted_body(job: Job, follow_url: str) -> str:
    return (
        f"{_marker(job)}\ncc-ci: run `{job.run_id}` queued for {_what(job)}, "
        f"requested by @{job.requested_by}.\n\nFollow it at {follow_url}"
    )


def running_body(job: Job, follow_url: str) -> str:
    attempt = f" (attempt {job.attempt})" if job.attempt > 1 else ""
    return f"{_marker(job)}\ncc-ci: run `{job.run_id}` is running{attempt} for {_what(job)}.\n\nFollow it at {follow_url}"


def requeued_body(job: Job, follow_url: str) -> str:
    return (
        f"{_marker(job)}\ncc-ci: the bridge restarted while run `{job.base_run_id}` was running; "
        f"it is queued again as `{job.run_id}` for {_what(job)}.\n\nFollow it at {follow_url}"
    )


def finished_body(job: Job, follow_url: str) -> str:
    verdict = job.verdict or "error"
    headline = HEADLINE_FOR_VERDICT.get(verdict, verdict)
    if job.state == "lost":
        headline = "was lost ⚠️"
    summary = (job.summary or "").strip()
    if len(summary) > MAX_SUMMARY_CHARS:
        summary = summary[:MAX_SUMMARY_CHARS] + "\n\n… (summary truncated; see the run)"
    return f"{_marker(job)}\ncc-ci: run `{job.run_id}` **{headline}** for {_what(job)}.\n\n{summary}\n\nDetails: {follow_url}"


def coalesced_body(job: Job, follow_url: str) -> str:
    return f"cc-ci: this PR head is already queued as run `{job.run_id}` ({follow_url}); not queueing it twice."


def malformed_body(reason: str) -> str:
    return f"cc-ci: {reason}. No run started.\n\n{GRAMMAR_HELP}"


def unauthorised_body(login: str) -> str:
    return f"cc-ci: @{login} may not start runs here (members of the repository's organisation and allowlisted users can). No run started."


def status_description(job: Job) -> str:
    if job.state == "queued":
        return f"run {job.run_id} queued"
    if job.state == "running":
        return f"run {job.run_id} running"
    if job.state == "lost":
        return f"run {job.run_id} lost"
    return f"run {job.run_id}: {job.verdict}"


class Reporter:
    def __init__(
        self, forge: ForgeClient, store: Store, context: str, follow_url: Callable[[Job], str]
    ) -> None:
        self._forge = forge
        self._store = store
        self._context = context
        self._follow_url = follow_url
        # The intake thread reports "queued" while a dispatcher thread may already report
        # "running": a per-job lock and phase keep the comment from moving backwards.
        self._locks: defaultdict[int, threading.Lock] = defaultdict(threading.Lock)
        self._phase: dict[int, int] = {}
        self._guard = threading.Lock()
        # Acceptance reports go through a small pool so that intake never waits on them.
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="report")

    def accepted_later(self, job: Job) -> None:
        self._pool.submit(self.accepted, job)

    def reply_later(self, repo: str, number: int, body: str) -> None:
        self._pool.submit(self.reply, repo, number, body)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def follow_url(self, job: Job) -> str:
        return job.follow_url or self._follow_url(job)

    def accepted(self, job: Job) -> None:
        self._report(job, 0, accepted_body, "pending")

    def running(self, job: Job) -> None:
        self._report(job, 1, running_body, "pending")

    def requeued(self, job: Job) -> None:
        self._report(job, 1, requeued_body, "pending")

    def finished(self, job: Job) -> bool:
        """Edit the run's comment with the verdict and set the final status. True if both landed."""
        state = (
            "error" if job.state == "lost" else STATUS_FOR_VERDICT.get(job.verdict or "", "error")
        )
        return self._report(job, 2, finished_body, state)

    def _report(self, job: Job, phase: int, body: Callable[[Job, str], str], state: str) -> bool:
        with self._guard:
            lock = self._locks[job.id]
        with lock:
            if self._phase.get(job.id, -1) > phase:
                return True
            self._phase[job.id] = phase
            url = self.follow_url(job)
            comment_ok = self._upsert_comment(job, body(job, url))
            return self._status(job, state, url) and comment_ok

    def reply(self, repo: str, number: int, body: str) -> None:
        owner, name = repo.split("/", 1)
        try:
            self._forge.create_comment(owner, name, number, body)
        except ForgeError as err:
            log.error("could not reply on %s#%d: %s", repo, number, err)

    def _upsert_comment(self, job: Job, body: str) -> bool:
        # Re-read: the comment id may have been stored after the caller loaded `job`.
        comment_id = self._store.report_comment_id(job.id)
        try:
            if comment_id is None:
                comment_id = self._forge.create_comment(job.owner, job.name, job.pr, body)
                self._store.set_report_comment(job.id, comment_id)
            else:
                self._forge.edit_comment(job.owner, job.name, comment_id, body)
            return True
        except ForgeError as err:
            log.error("run %s: could not write the PR comment: %s", job.run_id, err)
            return False

    def _status(self, job: Job, state: str, url: str) -> bool:
        try:
            self._forge.set_status(
                job.owner,
                job.name,
                job.head_sha,
                state,
                url,
                status_description(job),
                self._context,
            )
            return True
        except ForgeError as err:
            log.error("run %s: could not set the commit status: %s", job.run_id, err)
            return False
