"""Moves queued jobs to the executor, at most `capacity` at a time, and reports their outcome.

On start it first settles what a previous bridge left behind: runs it can re-attach to are
resumed, other interrupted runs are re-queued (up to max_attempts) or marked lost, and finished
runs whose report never reached the forge are reported again. Nothing is silently dropped.

Right before a queued job starts, `recheck` asks the forge whether it still should (the PR may
have been closed, or its head moved, while it waited); if not, the job is cancelled and its PR
comment says why. Whatever goes wrong while a job is handled ends the job as `error` with the
reason: a job never stays `running` without a run behind it.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable

from runner.bridge.executors.base import Executor, Outcome, Started
from runner.bridge.forge.client import ForgeError
from runner.bridge.reports import Reporter, public_reason
from runner.bridge.store import Job, Store
from runner.errors import CcciError

log = logging.getLogger("cc-ci.bridge")

REPORT_SWEEP_SECONDS = 60.0

LOST_SUMMARY = (
    "The bridge stopped while this run was in progress and it could not be re-attached or "
    "retried (attempts exhausted). Comment `!testme` again to start a new run."
)


def could_not_start(executor: str) -> str:
    return (
        f"The bridge's {executor} executor could not run this job, so nothing was tested. "
        "This is a problem of the CI host, not of the recipe: its operator finds the reason in "
        "the bridge's log and on the run page (`cc-ci bridge --check` checks the setup)."
    )


def could_not_handle(err: Exception) -> str:
    """The PR's sentence when handling a job failed. A forge error is the forge's answer (the call
    and its status, no host detail): the PR gets its cause; anything else stays the operator's."""
    text = "The bridge could not handle this run"
    if isinstance(err, ForgeError):
        return f"{text}: {public_reason(str(err))}"
    return f"{text}; its operator finds the reason in the bridge's log and on the run page."


class Dispatcher:
    def __init__(
        self,
        store: Store,
        executor: Executor,
        reporter: Reporter,
        max_attempts: int,
        recheck: Callable[[Job], str | None] = lambda job: None,
    ) -> None:
        self._store = store
        self._executor = executor
        self._reporter = reporter
        self._max_attempts = max_attempts
        self._recheck = recheck
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._slots = threading.BoundedSemaphore(executor.capacity)
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._recover()
        self._thread = threading.Thread(target=self._loop, name="dispatcher", daemon=True)
        self._thread.start()

    def stop(self, cancel_runs: bool = False) -> None:
        # Runs keep going unless cancelled: a restarted bridge re-attaches to them.
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if cancel_runs:
            self._executor.cancel_all()

    def _recover(self) -> None:
        for job in self._store.jobs("running"):
            if self._executor.can_resume(job):
                log.info("run %s: re-attaching after bridge restart", job.run_id)
                self._slots.acquire()
                self._launch(job)
            elif job.attempt < self._max_attempts:
                self._reclaim(job)
                requeued = self._store.requeue(job.id)
                log.warning(
                    "run %s: interrupted by a bridge restart; re-queued as %s",
                    job.run_id,
                    requeued.run_id,
                )
                self._reporter.sync(requeued.id)
            else:
                self._reclaim(job)
                lost = self._store.finish(job.id, "error", LOST_SUMMARY, state="lost")
                log.error("run %s: interrupted and out of attempts; marked lost", job.run_id)
                self._report_finished(lost)
        self._resend_reports(older_than=0.0)

    def _reclaim(self, job: Job) -> None:
        # The dead attempt may have left its stack (it died before its teardown): reclaim it now,
        # not at the next manual gc. A failure is logged; the job goes on (a new attempt gets a
        # new run id and a new stack, and gc still finds the old one).
        try:
            if self._executor.reclaim(job):
                log.info("run %s: reclaimed what the interrupted run left", job.run_id)
        except (CcciError, OSError, subprocess.SubprocessError) as err:  # gc failed, missing, hung
            log.error("run %s: could not reclaim what the interrupted run left: %s; "
                      "`cc-ci gc` will", job.run_id, err)

    def _resend_reports(self, older_than: float) -> None:
        # Final reports that did not reach the forge (it was down) are sent again; recent ones
        # are skipped because their run thread may still be reporting them.
        cutoff = time.time() - older_than
        for job in self._store.unreported_finished():
            if job.finished_at is None or job.finished_at <= cutoff:
                self._report_finished(job)

    def _loop(self) -> None:
        next_report_sweep = time.monotonic() + REPORT_SWEEP_SECONDS
        while not self._stopping.is_set():
            if time.monotonic() >= next_report_sweep:
                self._resend_reports(older_than=REPORT_SWEEP_SECONDS)
                next_report_sweep = time.monotonic() + REPORT_SWEEP_SECONDS
            while self._slots.acquire(blocking=False):
                job = None if self._stopping.is_set() else self._store.claim_next_queued()
                if job is None:
                    self._slots.release()
                    break
                self._launch(job)
            self._wake.wait(timeout=1.0)
            self._wake.clear()

    def _launch(self, job: Job) -> None:
        thread = threading.Thread(
            target=self._run, args=(job,), name=f"run-{job.run_id}", daemon=True
        )
        thread.start()

    def _run(self, job: Job) -> None:
        try:
            if not job.external_id:
                reason = self._should_not_start(job)
                if reason is not None:
                    log.info("run %s: not started: %s", job.run_id, reason)
                    self._report_finished(
                        self._store.finish(job.id, "error", reason, state="cancelled")
                    )
                    return
                self._reporter.sync(job.id)
            outcome = self._execute(job)
            if self._stopping.is_set():
                return  # the bridge is going away; the next one re-attaches and reports
            self._report_finished(self._store.finish(job.id, outcome.verdict, outcome.summary))
        except Exception as err:
            if self._stopping.is_set():
                return  # the store closed under us; the job stays "running" for the next bridge
            log.exception("run %s: handling the job failed", job.run_id)
            if self._store.job(job.id).state == "running":
                self._report_finished(
                    self._store.finish(
                        job.id, "error", could_not_handle(err), detail=f"{type(err).__name__}: {err}"
                    )
                )
        finally:
            self._slots.release()
            self._wake.set()

    def _should_not_start(self, job: Job) -> str | None:
        try:
            return self._recheck(job)
        except ForgeError as err:
            # The job's commit is the one a member asked for; not knowing whether the PR moved
            # since is no reason to drop the run.
            log.warning(
                "run %s: could not re-check the PR before starting (%s); starting it",
                job.run_id,
                err,
            )
            return None

    def _execute(self, job: Job) -> Outcome:
        def on_started(started: Started) -> None:
            self._store.set_external(job.id, started.external_id, started.follow_url)
            if started.follow_url:
                self._reporter.sync(job.id)

        try:
            return self._executor.execute(job, on_started)
        except Exception as err:  # an executor failure is the run's error, never the bridge's crash
            log.exception("run %s: executor %s failed", job.run_id, self._executor.name)
            # The reason names host paths and users: it goes to the log and the run page (the
            # operator's), the PR gets a sentence that says where to look.
            self._store.set_detail(job.id, f"{type(err).__name__}: {err}")
            return Outcome("error", could_not_start(self._executor.name))

    def _report_finished(self, job: Job) -> None:
        log.info("run %s: %s (%s)", job.run_id, job.state, job.verdict)
        try:
            self._reporter.sync(job.id)  # marks the job reported once the report landed
        except Exception:  # the job has ended either way; the report sweep sends it again
            log.exception("run %s: reporting the end failed", job.run_id)
