"""A tier's pytest forked from one warm process per test worker, for unit tests that are not about
the tier's process start.

`warm_pytest.run` starts a fresh Python for every tier and every `cc-ci check` collection: it
imports pytest, docker, httpx, pydantic and the fixtures' modules again each time (tenths of a
second of CPU, seconds of wall on a loaded machine), which the unit tests of the check's messages
paid ~15 times. Here one server per xdist worker makes the spare's own start-up once (its code,
taken from warm_pytest) and forks a child per job: the child is still a process of its own that
takes the job's cwd, exactly the job's environment and a fresh import of the tier's files, and
ends as the spare does. The spare itself (its start, niceness, environment on /proc, exit when
unused) is tested against the real thing in test_timing_and_warm_pytest.py and
test_repo_local_gate.py, which do not use this; test_forked_pytest.py checks this one's contract.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from runner.plumbing.paths import REPO_ROOT
from runner.plumbing.proc import ExecResult
from runner.tiers import warm_pytest

# The warm spare's own start-up (runner/tiers/warm_pytest.py, up to where it reads its job), then one
# forked child per job line, which ends as the spare does; the server answers each job with the
# child's exit code. A single thread: fork is safe.
_START_UP, _FOUND, _ = warm_pytest._CHILD.partition("line = sys.stdin.readline()")
assert _FOUND, "warm_pytest's spare no longer reads its job where this server expects: follow it here"
_SERVER = _START_UP + r"""
if niced:
    os.setpriority(os.PRIO_PROCESS, 0, 0)  # as the spare does once it has its job
import traceback
from runner.plumbing.fastexit import exit_now
answers = os.fdopen(os.dup(1), "w")
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            os.dup2(os.open(job["out"], os.O_WRONLY | os.O_TRUNC), 1)
            os.dup2(os.open(job["err"], os.O_WRONLY | os.O_TRUNC), 2)
            os.chdir(job["cwd"])
            os.environ.clear()
            os.environ.update(job["env"])
            code = int(pytest.main(job["args"]))
        except BaseException:
            traceback.print_exc()
        finally:
            exit_now(code)
    _, status = os.waitpid(pid, 0)
    answers.write(json.dumps({"code": os.waitstatus_to_exitcode(status)}) + "\n")
    answers.flush()
"""


class ForkServer:
    """One warm server; `run` has `warm_pytest.run`'s contract. A second job while one is under
    way (a test running tiers side by side) goes to a real spare instead of waiting."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen([sys.executable, "-c", _SERVER], cwd=REPO_ROOT,
                                      env=warm_pytest.minimal_env(os.environ, {}),
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._busy = threading.Lock()
        self._scratch = tempfile.TemporaryDirectory(prefix="ccci-forked-pytest-")

    def run(self, args: Sequence[str], env: Mapping[str, str], cwd: Path = REPO_ROOT) -> ExecResult:
        if not self._busy.acquire(blocking=False):
            return _REAL_RUN(args, env, cwd)
        try:
            return self._run(args, env, cwd)
        finally:
            self._busy.release()

    def _run(self, args: Sequence[str], env: Mapping[str, str], cwd: Path) -> ExecResult:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        out, err = Path(self._scratch.name, "out"), Path(self._scratch.name, "err")
        out.write_text("")
        err.write_text("")
        job = {"args": list(args), "env": dict(env), "cwd": str(cwd), "out": str(out), "err": str(err)}
        self._proc.stdin.write(json.dumps(job) + "\n")
        self._proc.stdin.flush()
        answer = self._proc.stdout.readline()
        if not answer:
            raise RuntimeError(f"the forked-pytest server died (exit {self._proc.wait()})")
        return ExecResult(json.loads(answer)["code"], out.read_text(), err.read_text())

    def close(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait(timeout=30)
        self._scratch.cleanup()


_REAL_RUN = warm_pytest.run
# what run_tier passes for the same reason: the plugins were imported before pytest started
WARM_ARGS = ("-W", "ignore:Module already imported so cannot be rewritten:pytest.PytestAssertRewriteWarning")


@pytest.fixture(scope="session")
def fork_server() -> Iterator[ForkServer]:
    server = ForkServer()
    yield server
    server.close()


@pytest.fixture
def forked_pytest(fork_server: ForkServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiers and check collections of this test run forked from the warm server (see above); a spare
    started ahead would go unused."""
    monkeypatch.setattr(warm_pytest, "run", fork_server.run)
    monkeypatch.setattr(warm_pytest, "warm_up", lambda *args, **kwargs: None)
