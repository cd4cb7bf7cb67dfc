"""`local` executor: runs `run_recipe_ci` on this machine, at most `capacity` at a time.

The run gets the job in env vars and writes `<runs_dir>/<run_id>/results.json` and `summary.md`.
It is started in its own session so that a bridge crash or restart does not kill it half-way
(its teardown must run); a restarted bridge re-attaches to it by pid. With `run_user` it runs as
that Unix user (its uid, primary group and supplementary groups, e.g. `docker`, and its HOME),
so it cannot read what only the bridge's user can: secret files, /proc/<bridge pid>/environ.
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.bridge.config import LocalExecutorConfig
from runner.bridge.executors.base import VERDICTS, Outcome, Started
from runner.bridge.reports import public_reason
from runner.bridge.store import Job
from runner.errors import EXIT_HEAD_MISMATCH, BadInput, InfraError
from runner.run.rundir import RunDir

log = logging.getLogger("cc-ci.bridge")

ORPHAN_POLL_SECONDS = 1.0
TERM_GRACE_SECONDS = 120.0  # a run's SIGTERM handler tears its app down; give it time
RECLAIM_TIMEOUT_SECONDS = 600.0  # gc of one run: its stack's teardown, bounded by gc's own deadline


@dataclass(frozen=True)
class RunUser:
    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str


def resolve_run_user(name: str | None) -> RunUser | None:
    """The Unix user runs are started as, checked at start-up so a typo fails there, not per run."""
    if name is None:
        return None
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise BadInput(f"bridge config: executor.run_user: no such user {name!r}") from None
    if os.geteuid() != 0:
        # Only root can switch users without leaving the run a capability to switch back (a
        # non-root bridge given CAP_SETUID would pass it on to the run as an ambient capability).
        raise BadInput(
            f"bridge config: executor.run_user: starting runs as {name!r} needs the bridge to run as root"
        )
    groups = tuple(os.getgrouplist(entry.pw_name, entry.pw_gid))
    return RunUser(entry.pw_name, entry.pw_uid, entry.pw_gid, groups, entry.pw_dir)


def run_env(
    job: Job, runs_dir: Path, extra: dict[str, str], base: dict[str, str], drop: Iterable[str]
) -> dict[str, str]:
    """The run's environment: ours minus the bridge's secrets, plus the job."""
    env = {key: value for key, value in base.items() if key not in set(drop)}
    env.update(extra)
    env.update(
        RECIPE=job.recipe,
        REF=job.head_sha,
        PR=str(job.pr),
        STAGES=",".join(job.stages),
        CCCI_RUN_ID=job.run_id,
        CCCI_RUNS_DIR=str(runs_dir),
    )
    if job.head_repo:  # a fork's PR: where the run looks for REF if refs/pull/<PR>/head lags
        env["PR_HEAD_REPO"] = job.head_repo
    else:
        env.pop("PR_HEAD_REPO", None)
    return env


def outcome_from_results(
    results: dict[str, Any] | None,
    summary: str | None,
    exit_code: int | None,
    error_line: str | None = None,
) -> Outcome:
    """Decide the verdict from what the run left behind; a run without results.json is an error.

    A run refused for bad input (exit 2), or because the PR's head is not the one it was bound to
    (exit 5), writes nothing; its one-line error is what to show.
    """
    if results is None:
        code = "unknown" if exit_code is None else str(exit_code)
        text = f"The run ended (exit code {code}) without writing results.json."
        if exit_code == EXIT_HEAD_MISMATCH:
            text = ("The run was refused before anything was deployed: the PR's head is not the "
                    f"commit `!testme` was accepted for (exit code {code}).")
        if error_line:
            text += f"\n\n`{public_reason(error_line)}`"
        return Outcome("error", summary or text)
    verdict = results.get("verdict")
    if verdict not in VERDICTS:
        return Outcome("error", summary or f"results.json has no valid verdict ({verdict!r}).")
    return Outcome(str(verdict), summary or f"Verdict: {verdict} (the run wrote no summary.md).")


def last_error_line(log_path: Path) -> str | None:
    """The run's own `cc-ci: error: …` line, from its captured output."""
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return None
    errors = [line.strip() for line in lines if line.startswith("cc-ci: error:")]
    return errors[-1] if errors else None  # clipped, with a mark, where it is shown


def read_outcome(run_dir: RunDir, exit_code: int | None, log_path: Path | None = None) -> Outcome:
    results: dict[str, Any] | None
    try:
        results = json.loads(run_dir.results.read_text())
    except (OSError, ValueError):
        results = None
    try:
        summary: str | None = run_dir.summary.read_text()
    except OSError:
        summary = None
    error_line = last_error_line(log_path) if log_path and results is None else None
    return outcome_from_results(results, summary, exit_code, error_line)


def run_alive(pid: int, run_id: str) -> bool:
    """Is `pid` still our run? Matching the run id guards against pid reuse; zombies read empty."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"CCCI_RUN_ID={run_id}".encode() in environ.split(b"\0")


class LocalExecutor:
    name = "local"

    def __init__(
        self, cfg: LocalExecutorConfig, log_dir: Path, drop_env: Iterable[str] = ()
    ) -> None:
        self.capacity = cfg.capacity
        self._cfg = cfg
        self._log_dir = log_dir
        self._drop_env = tuple(drop_env)
        self._user = resolve_run_user(cfg.run_user)
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def can_resume(self, job: Job) -> bool:
        if not job.external_id:
            return False
        finished = RunDir.at(self._cfg.runs_dir, job.run_id).results.exists()
        return finished or run_alive(int(job.external_id), job.run_id)

    def execute(self, job: Job, on_started: Callable[[Started], None]) -> Outcome:
        run_dir = RunDir.at(self._cfg.runs_dir, job.run_id)
        if job.external_id:
            log.info("run %s: re-attaching to pid %s", job.run_id, job.external_id)
            self._await_orphan(int(job.external_id), job.run_id)
            return read_outcome(run_dir, exit_code=None)
        proc = self._spawn(job)
        on_started(Started(external_id=str(proc.pid)))
        try:
            code = proc.wait(timeout=self._cfg.timeout_seconds)
        except subprocess.TimeoutExpired:
            self._terminate(proc)
            return Outcome(
                "error",
                f"The run exceeded the bridge's timeout of {self._cfg.timeout_seconds:.0f}s and was stopped.",
            )
        finally:
            with self._lock:
                self._procs.pop(proc.pid, None)
        log.info("run %s: exited with code %s", job.run_id, code)
        return read_outcome(run_dir, code, self._log_dir / f"{job.run_id}.log")

    def reclaim(self, job: Job) -> bool:
        """`cc-ci gc --run <run id>` as the run would be started (same user, same env: the same
        swarm, over SSH too): one remover, gc's, judged by the dead run's lock. Its output goes
        to the dead attempt's log."""
        self._log_dir.mkdir(parents=True, exist_ok=True)
        env = run_env(job, self._cfg.runs_dir, self._cfg.env, dict(os.environ), self._drop_env)
        user = self._user
        if user is not None:
            env.update(HOME=user.home, USER=user.name, LOGNAME=user.name)
        command = [*self._cfg.gc_command, "--run", job.run_id, "--runs-dir", str(self._cfg.runs_dir)]
        with open(self._log_dir / f"{job.run_id}.log", "ab") as out:
            out.write(f"\n--- the bridge restarted; reclaiming this run: {' '.join(command)}\n".encode())
            out.flush()
            done = subprocess.run(
                command, cwd=self._cfg.workdir, env=env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, timeout=RECLAIM_TIMEOUT_SECONDS,
                user=user.uid if user else None, group=user.gid if user else None,
                extra_groups=list(user.groups) if user else None,
            )
        if done.returncode != 0:
            raise InfraError(f"run {job.run_id}: `cc-ci gc --run` exited {done.returncode} "
                           f"(its output: {self._log_dir / f'{job.run_id}.log'})")
        return True

    def cancel_all(self) -> None:
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            self._terminate(proc)

    def _spawn(self, job: Job) -> subprocess.Popen[bytes]:
        self._prepare_runs_dir()
        self._log_dir.mkdir(parents=True, exist_ok=True)
        env = run_env(job, self._cfg.runs_dir, self._cfg.env, dict(os.environ), self._drop_env)
        user = self._user
        if user is not None:
            env.update(HOME=user.home, USER=user.name, LOGNAME=user.name)
        # The bridge opens the log; the run only gets the file descriptor.
        with open(self._log_dir / f"{job.run_id}.log", "wb") as out:
            proc = subprocess.Popen(
                self._cfg.command,
                cwd=self._cfg.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=user.uid if user else None,
                group=user.gid if user else None,
                extra_groups=list(user.groups) if user else None,
            )
        with self._lock:
            self._procs[proc.pid] = proc
        log.info(
            "run %s: started pid %d%s (recipe %s, ref %s, stages %s)",
            job.run_id,
            proc.pid,
            f" as {user.name}" if user else "",
            job.recipe,
            job.head_sha[:12],
            ",".join(job.stages),
        )
        return proc

    def _prepare_runs_dir(self) -> None:
        runs_dir = self._cfg.runs_dir
        if runs_dir.exists():
            return
        runs_dir.mkdir(parents=True)
        if self._user is not None:  # the runs write their run dirs here
            os.chown(runs_dir, self._user.uid, self._user.gid)

    def _await_orphan(self, pid: int, run_id: str) -> None:
        # Not our child any more (the bridge that spawned it died), so no waitpid: poll /proc.
        deadline = time.monotonic() + self._cfg.timeout_seconds
        while run_alive(pid, run_id) and time.monotonic() < deadline:
            time.sleep(ORPHAN_POLL_SECONDS)

    def _terminate(self, proc: subprocess.Popen[bytes]) -> None:
        # SIGTERM the whole session: the run's handler tears its app down before exiting.
        for sig, grace in ((signal.SIGTERM, TERM_GRACE_SECONDS), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(timeout=grace)
                return
            except subprocess.TimeoutExpired:
                continue
