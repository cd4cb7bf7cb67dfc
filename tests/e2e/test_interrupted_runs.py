"""Teardown is sacred: a signalled run tears down; a SIGKILLed run is reclaimed by `cc-ci gc`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from runner.plumbing.paths import REPO_ROOT
from runner.swarm.stack import stack_services
from runner.targets.local import connect
from tests.e2e.support import suite_objects

pytestmark = pytest.mark.e2e


def _start_run(runs_dir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "RECIPE": "custom-html-tiny", "CCCI_RUNS_DIR": str(runs_dir),
           "CCCI_DOMAIN_BASE": "ccci.test"}
    return subprocess.Popen([sys.executable, "-m", "runner.run_recipe_ci"], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_until_converged(proc: subprocess.Popen[str]) -> str:
    """Read the run's progress lines until the app is deployed; return the stack name."""
    assert proc.stderr is not None
    stack = ""
    for line in proc.stderr:
        if "(stack " in line:
            stack = line.split("(stack ", 1)[1].split(")", 1)[0]
        if "converged:" in line:
            return stack
    pytest.fail(f"the run ended before converging (exit {proc.wait()})")


def _stack_services(stack: str) -> list[str]:
    return [s.name for s in stack_services(stack, connect())]


def test_sigterm_during_a_run_tears_everything_down(tmp_path: Path) -> None:
    proc = _start_run(tmp_path / "runs")
    stack = _wait_until_converged(proc)
    assert _stack_services(stack)
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=180)
    assert proc.returncode == 3
    (run_dir,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]  # beside it: the runs index
    results = json.loads((run_dir / "results.json").read_text())
    assert "interrupted by SIGTERM" in results["error"]
    assert results["teardown_leftovers"] == []
    assert "teardown left nothing behind" in rest
    assert [o for o in suite_objects() if stack in o] == []


# A gc as this host removes every run of this host that no process holds the lock of: these tests
# each leave such a run for their own gc to reclaim, so they run one after another.
@pytest.mark.one_at_a_time("own-host-gc")
def test_gc_reclaims_the_stack_of_a_sigkilled_run_and_spares_live_ones(tmp_path: Path) -> None:
    runs, other_runs = tmp_path / "runs", tmp_path / "other-runs"
    killed = _start_run(runs)
    stack = _wait_until_converged(killed)
    killed.kill()
    killed.wait(timeout=30)
    assert _stack_services(stack), "SIGKILL cannot tear down: the stack should still be there"
    (killed_dir,) = [p for p in runs.iterdir() if p.is_dir()]

    # The live run writes to another runs dir than the one gc is given: the stack's run-dir label
    # still leads gc to its lock.
    live = _start_run(other_runs)
    live_stack = _wait_until_converged(live)
    live.send_signal(signal.SIGSTOP)  # hold the live run still while gc looks at it
    try:
        gc = subprocess.run([sys.executable, "-m", "runner.cli", "gc", "--runs-dir", str(runs), "--prune-days", "0"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
        assert gc.returncode == 0, gc.stderr
        assert f"gc: removed {stack}" in gc.stderr
        assert live_stack not in gc.stderr
        assert [o for o in suite_objects() if stack in o] == []
        assert _stack_services(live_stack), "gc must not touch a run that is still alive"
        assert f"gc: deleted 1 run dir(s) older than 0 day(s) in {runs}" in gc.stderr
        assert not killed_dir.exists()
    finally:
        live.send_signal(signal.SIGCONT)
    live.communicate(timeout=180)
    assert live.returncode == 0
