"""The local executor's pieces: run environment, verdict from results, pid re-attachment."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from runner.bridge.executors.local import outcome_from_results, read_outcome, run_alive, run_env
from runner.run.rundir import RunDir
from tests.unit.bridge.support import a_job, wait_until


def test_run_env_carries_the_job_and_drops_the_bridge_secrets(tmp_path: Path) -> None:
    base = {"PATH": "/bin", "FORGE_TOKEN": "t", "HOOK_SECRET": "s"}
    env = run_env(a_job(), tmp_path, {"EXTRA": "1"}, base, drop=["FORGE_TOKEN", "HOOK_SECRET"])
    assert env == {
        "PATH": "/bin",
        "EXTRA": "1",
        "RECIPE": "recipe",
        "REF": "c" * 40,
        "PR": "1",
        "STAGES": "install,upgrade",
        "CCCI_RUN_ID": "recipe-pr1-abcdef",
        "CCCI_RUNS_DIR": str(tmp_path),
    }


def test_verdict_comes_from_results_json() -> None:
    assert outcome_from_results({"verdict": "pass", "exit_code": 0}, "# ok", 0).verdict == "pass"
    assert outcome_from_results({"verdict": "fail", "exit_code": 1}, "# no", 1).verdict == "fail"
    assert outcome_from_results({"verdict": "error"}, None, 3).summary.startswith("Verdict: error")


def test_a_run_without_results_or_with_a_bad_verdict_is_an_error() -> None:
    missing = outcome_from_results(None, None, 0)
    assert (missing.verdict, "exit code 0" in missing.summary) == ("error", True)
    assert outcome_from_results({"verdict": "maybe"}, None, 0).verdict == "error"


def test_a_run_refused_for_bad_input_reports_its_one_line_error(tmp_path: Path) -> None:
    log_path = tmp_path / "run.log"
    log_path.write_text("cc-ci: error: STAGES: stage 'upgrade' is not implemented yet; supported: install\n")
    outcome = read_outcome(RunDir(tmp_path / "no-run-dir"), 2, log_path)
    assert outcome.verdict == "error"
    assert "exit code 2" in outcome.summary
    assert "STAGES: stage 'upgrade' is not implemented yet" in outcome.summary


def test_run_alive_recognises_its_run_and_not_a_reused_pid(tmp_path: Path) -> None:
    env = dict(os.environ, CCCI_RUN_ID="recipe-pr1-abcdef")
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], env=env)
    try:
        wait_until(lambda: run_alive(proc.pid, "recipe-pr1-abcdef"), what="child to exec")
        assert not run_alive(proc.pid, "recipe-pr1-other0")  # same pid, another run: not ours
    finally:
        proc.kill()
        proc.wait()
    assert not run_alive(proc.pid, "recipe-pr1-abcdef")
    assert not run_alive(2**22 + 7, "recipe-pr1-abcdef")


def test_zombie_is_not_alive() -> None:
    env = dict(os.environ, CCCI_RUN_ID="recipe-pr1-zombie")
    proc = subprocess.Popen([sys.executable, "-c", "pass"], env=env)
    # Exited but not reaped: a zombie, as the orphan of a dead bridge may be.
    deadline = time.monotonic() + 10
    while open(f"/proc/{proc.pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    try:
        assert not run_alive(proc.pid, "recipe-pr1-zombie")
    finally:
        proc.wait()


def test_a_run_refused_for_a_moved_pr_head_says_so_with_its_one_line_error(tmp_path: Path) -> None:
    log_path = tmp_path / "run.log"
    line = ("cc-ci: error: PR #7: the run is bound to head " + "a" * 40 + ", but refs/pull/7/head is "
            "bbbbbbbbbbbb; the PR moved since the run was asked for: test its new head (nothing was deployed)")
    log_path.write_text("cloning x\n" + line + "\n")
    outcome = read_outcome(RunDir(tmp_path / "no-run-dir"), 5, log_path)
    assert outcome.verdict == "error"
    assert "refused before anything was deployed: the PR's head is not the commit" in outcome.summary
    assert line.removeprefix("cc-ci: error: ") in outcome.summary


def test_a_forks_job_tells_the_run_where_its_head_lives(tmp_path: Path) -> None:
    fork = "https://forge.example/alice/recipe.git"
    env = run_env(a_job(head_repo=fork), tmp_path, {}, {"PATH": "/bin"}, drop=[])
    assert env["PR_HEAD_REPO"] == fork and env["PR"] == "1" and env["REF"] == "c" * 40
    # never one inherited from the bridge's own environment for a PR from the base repository
    assert "PR_HEAD_REPO" not in run_env(a_job(), tmp_path, {}, {"PR_HEAD_REPO": fork}, drop=[])
