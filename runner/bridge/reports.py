"""Reporting a run back to the PR: one comment per run (posted on accept, edited as the run
moves on) and a commit status on the PR head. Bodies are built by pure functions; the Reporter
posts them (and every other item of the outbox, e.g. refusals.py's replies) and never lets a
forge failure escape (it is retried by the client, then logged).

Every comment the bridge creates starts with an invisible marker line (the run, or the comment
it answers). Creating goes through `ForgeClient.post_comment`, which first looks for the bot's
comment carrying that marker: a comment whose creation was interrupted is found, not repeated.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable

from runner.bridge.forge.client import ForgeClient, ForgeError
from runner.bridge.grammar import printable
from runner.bridge.refusals import short
from runner.bridge.store import Job, OutboxItem, Store
from runner.plumbing.scrub import mask_url_credentials
from runner.record.results import RUN_PAGE_SENTENCE

log = logging.getLogger("cc-ci.bridge")

MAX_SUMMARY_CHARS = 50_000  # forges cap comment bodies (Gitea: 65535 bytes in MySQL)
MAX_REASON_CHARS = 800  # one error line quoted on a PR: long enough for git's cause and a path

# `empty`: nothing failed but a tier asserted nothing; never green, and not the recipe's red
STATUS_FOR_VERDICT = {"pass": "success", "fail": "failure", "error": "error", "empty": "warning"}
HEADLINE_FOR_VERDICT = {"pass": "passed ✅", "fail": "failed ❌", "error": "errored ⚠️",
                        "empty": "checked nothing in a tier ∅"}


def public_reason(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """An error's cause as a PR may show it: one printable line, credentials in URLs masked
    (`https://user:token@host` → `https://***@host`), no backticks to break the markup, and
    clipped with a mark, never to nothing."""
    line = mask_url_credentials(printable(" ".join(text.split()))).replace("`", "'")
    return line if len(line) <= limit else line[:limit] + "…"


def job_marker(job: Job) -> str:
    # An invisible first line: says which run a comment belongs to, and never starts with !testme.
    return f"<!-- cc-ci run {job.base_run_id} -->"


def _what(job: Job) -> str:
    return f"`{job.recipe}` at {short(job.head_sha)} (stages: {', '.join(job.stages)})"


def accepted_body(job: Job, follow_url: str) -> str:
    return (
        f"{job_marker(job)}\ncc-ci: run `{job.run_id}` queued for {_what(job)}, "
        f"requested by @{job.requested_by}.\n\nFollow it at {follow_url}"
    )


def running_body(job: Job, follow_url: str) -> str:
    attempt = f" (attempt {job.attempt})" if job.attempt > 1 else ""
    return f"{job_marker(job)}\ncc-ci: run `{job.run_id}` is running{attempt} for {_what(job)}.\n\nFollow it at {follow_url}"


def requeued_body(job: Job, follow_url: str) -> str:
    return (
        f"{job_marker(job)}\ncc-ci: the bridge restarted while run `{job.base_run_id}` was running; "
        f"it is queued again as `{job.run_id}` for {_what(job)}.\n\nFollow it at {follow_url}"
    )


def card_markdown(card_url: str | None, follow_url: str) -> str:
    """The run's summary card as an image linking to the run's page (Gitea and Forgejo render
    Markdown images in comments), or nothing when the run has no card."""
    return f"[![summary card]({card_url})]({follow_url})\n\n" if card_url else ""


def finished_body(job: Job, follow_url: str, card_url: str | None = None) -> str:
    verdict = job.verdict or "error"
    headline = HEADLINE_FOR_VERDICT.get(verdict, verdict)
    if job.state == "lost":
        headline = "was lost ⚠️"
    summary = (job.summary or "").strip()
    if len(summary) > MAX_SUMMARY_CHARS:
        summary = summary[:MAX_SUMMARY_CHARS] + "\n\n… (summary truncated; see the run)"
    summary = summary.replace(RUN_PAGE_SENTENCE, f"[The run page]({follow_url}) has each tier's full output.")
    return (f"{job_marker(job)}\ncc-ci: run `{job.run_id}` **{headline}** for {_what(job)}.\n\n"
            f"{attempt_markdown(job)}{card_markdown(card_url, follow_url)}{summary}\n\nDetails: {follow_url}")


def attempt_markdown(job: Job) -> str:
    """A result from a second attempt says so: the first was interrupted (the bridge restarted
    while it ran) and this run started again from scratch."""
    if job.attempt <= 1:
        return ""
    return (f"_This result comes from attempt {job.attempt}: run `{job.base_run_id}` was interrupted "
            f"(the bridge restarted while it ran), and the PR head was tested again from the start._\n\n")


def cancelled_body(job: Job, follow_url: str) -> str:
    return f"{job_marker(job)}\ncc-ci: run `{job.run_id}` for {_what(job)} was **not started**: {job.summary}"


def job_body(job: Job, follow_url: str, card_url: str | None = None) -> str:
    """The run's comment for the state it is in now; a finished run's shows its summary card."""
    if job.state == "queued":
        return (requeued_body if job.attempt > 1 else accepted_body)(job, follow_url)
    if job.state == "running":
        return running_body(job, follow_url)
    if job.state == "cancelled":
        return cancelled_body(job, follow_url)
    return finished_body(job, follow_url, card_url if job.state == "finished" else None)


def job_status(job: Job) -> str:
    if job.state in ("queued", "running"):
        return "pending"
    if job.state == "finished":
        return STATUS_FOR_VERDICT.get(job.verdict or "", "error")
    return "error"  # lost, cancelled


def coalesced_body(job: Job, follow_url: str) -> str:
    return f"cc-ci: this PR head is already queued as run `{job.run_id}` ({follow_url}); not queueing it twice."


def status_context(prefix: str, job: Job) -> str:
    """One commit status context per stage set: runs of other stages on the same head keep theirs."""
    return f"{prefix.rstrip('/')}/{','.join(job.stages)}"


def status_description(job: Job) -> str:
    if job.state == "queued":
        return f"run {job.run_id} queued"
    if job.state == "running":
        return f"run {job.run_id} running"
    if job.state == "lost":
        return f"run {job.run_id} lost"
    if job.state == "cancelled":
        return f"run {job.run_id} not started"
    return f"run {job.run_id}: {job.verdict}"


class Reporter:
    def __init__(
        self, forge: ForgeClient, store: Store, context: str, follow_url: Callable[[Job], str],
        card_url: Callable[[Job], str | None] = lambda job: None,
    ) -> None:
        self._forge = forge
        self._store = store
        self._context = context
        self._follow_url = follow_url
        self._card_url = card_url  # where the bridge serves the run's summary card, if it has one
        # The outbox, the dispatcher and the report sweep may sync one job at once: a per-job
        # lock, and the job re-read under it, keep the comment from moving backwards.
        self._locks: defaultdict[int, threading.Lock] = defaultdict(threading.Lock)
        self._guard = threading.Lock()
        # What landed last per job, so that a sync with nothing new posts nothing (e.g. the
        # outbox sending a job's report after the dispatcher already reported it running).
        self._last_status: dict[int, tuple[str, str, str, str]] = {}
        self._last_body: dict[int, str] = {}

    def follow_url(self, job: Job) -> str:
        return job.follow_url or self._follow_url(job)

    def sync(self, job_id: int) -> bool:
        """Bring the run's PR comment and commit status up to the job's current state. True if
        both landed; a job that has ended is then marked reported."""
        with self._guard:
            lock = self._locks[job_id]
        with lock:
            job = self._store.job(job_id)
            url = self.follow_url(job)
            card = self._card_url(job) if job.state == "finished" else None
            comment_ok = self._upsert_comment(job, job_body(job, url, card))
            landed = self._status(job, job_status(job), url) and comment_ok
            if landed and job.state in ("finished", "lost", "cancelled"):
                self._store.mark_reported(job.id)
            return landed

    def send(self, item: OutboxItem) -> None:
        """Send one outbox item; raises ForgeError when it did not land (the outbox retries)."""
        if item.kind == "job":
            assert item.job_id is not None
            if not self.sync(item.job_id):
                raise ForgeError(f"run report for job {item.job_id} did not land")
            return
        owner, name = item.repo.split("/", 1)
        marker = item.marker or ""
        if item.kind == "coalesced":
            assert item.job_id is not None
            job = self._store.job(item.job_id)
            text = coalesced_body(job, self.follow_url(job))
        else:
            text = item.body or ""
        self._forge.post_comment(owner, name, item.number, f"{marker}\n{text}", marker)

    def _upsert_comment(self, job: Job, body: str) -> bool:
        if job.report_comment_id is not None and self._last_body.get(job.id) == body:
            return True
        try:
            if job.report_comment_id is None:
                comment_id, created = self._forge.post_comment(
                    job.owner, job.name, job.pr, body, job_marker(job)
                )
                self._store.set_report_comment(job.id, comment_id)
                if not created:  # made before a crash, with what was then the job's state
                    self._forge.edit_comment(job.owner, job.name, comment_id, body)
            else:
                self._forge.edit_comment(job.owner, job.name, job.report_comment_id, body)
            self._last_body[job.id] = body
            return True
        except ForgeError as err:
            log.error("run %s: could not write the PR comment: %s", job.run_id, err)
            return False

    def _status(self, job: Job, state: str, url: str) -> bool:
        context = status_context(self._context, job)
        status = (state, url, status_description(job), context)
        if self._last_status.get(job.id) == status:
            return True
        try:
            self._forge.set_status(
                job.owner, job.name, job.head_sha, state, url, status[2], context
            )
            self._last_status[job.id] = status
            return True
        except ForgeError as err:
            log.error("run %s: could not set the commit status: %s", job.run_id, err)
            return False
