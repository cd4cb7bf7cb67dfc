"""The drone executor against a stand-in Drone server, alone and inside the bridge."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from runner.bridge.config import DroneExecutorConfig
from runner.bridge.executors.base import Outcome, Started
from runner.bridge.executors.drone import DroneExecutor, parse_summary_log, verdict_for_build_status
from runner.bridge.retry import RetryPolicy
from runner.bridge.store import Job
from tests.unit.bridge.bridge_standins import StandinDrone, StandinForge
from tests.unit.bridge.support import (
    DRONE_TOKEN,
    HEAD,
    REPO,
    StartBridge,
    a_job,
    wait_until,
)

CI_REPO = "coop-cloud/cc-ci"


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        ("success", "pass"),
        ("failure", "fail"),
        ("error", "error"),
        ("killed", "error"),
        ("declined", "error"),
        ("skipped", "error"),
    ],
)
def test_build_status_maps_to_verdict(status: str, verdict: str) -> None:
    assert verdict_for_build_status(status) == verdict


def test_summary_log_gives_verdict_marker_and_markdown() -> None:
    assert parse_summary_log("CCCI-VERDICT: error\n## install\nop failed\n") == (
        "error",
        "## install\nop failed",
    )
    assert parse_summary_log("## no marker\n") == (None, "## no marker")
    assert parse_summary_log("CCCI-VERDICT: bogus\nx") == (None, "x")


def executor(drone: StandinDrone, **overrides: Any) -> DroneExecutor:
    cfg = DroneExecutorConfig.model_validate(
        {
            "kind": "drone",
            "url": drone.url,
            "token": {"env": "UNUSED"},
            "repo": CI_REPO,
            "poll_interval_seconds": 0.02,
        }
        | overrides
    )
    return DroneExecutor(cfg, SecretStr(DRONE_TOKEN), RetryPolicy(3, 0.01, 0.02))


def execute_in_thread(ex: DroneExecutor, job: Job) -> tuple[list[Started], dict[str, Outcome]]:
    started: list[Started] = []
    result: dict[str, Outcome] = {}
    thread = threading.Thread(
        target=lambda: result.setdefault("outcome", ex.execute(job, started.append)), daemon=True
    )
    thread.start()
    return started, result


def test_creates_a_parameterised_build_and_waits_for_its_verdict(drone: StandinDrone) -> None:
    ex = executor(drone)
    started, result = execute_in_thread(ex, a_job())

    wait_until(lambda: started, what="build created")
    (create,) = drone.calls_to("POST", f"/api/repos/{CI_REPO}/builds")
    assert create.query == {
        "branch": "main",
        "RECIPE": "recipe",
        "REF": "c" * 40,
        "PR": "1",
        "STAGES": "install,upgrade",
        "CCCI_RUN_ID": "recipe-pr1-abcdef",
    }
    assert create.authorization == f"Bearer {DRONE_TOKEN}"
    assert started[0] == Started(external_id="1", follow_url=f"{drone.url}/{CI_REPO}/1")

    drone.finish(CI_REPO, 1, "failure", "CCCI-VERDICT: fail\n## install tier\n1 failed\n")

    outcome = wait_until(lambda: result.get("outcome"), what="outcome")
    assert outcome == Outcome("fail", "## install tier\n1 failed")


def test_a_create_call_whose_response_was_lost_does_not_make_a_second_build(
    drone: StandinDrone
) -> None:
    drone.create_then_fail = [502]  # Drone made build 1, then the answer was lost
    ex = executor(drone)
    started, result = execute_in_thread(ex, a_job())

    wait_until(lambda: started, what="build found")
    assert len(drone.calls_to("POST", f"/api/repos/{CI_REPO}/builds")) == 1
    assert len(drone.builds) == 1 and started[0].external_id == "1"
    drone.finish(CI_REPO, 1, "success")
    assert wait_until(lambda: result.get("outcome"), what="outcome").verdict == "pass"


def test_a_create_call_that_failed_before_drone_acted_is_retried(drone: StandinDrone) -> None:
    drone.fail_next("POST", f"/api/repos/{CI_REPO}/builds", times=1, status=503)
    ex = executor(drone)
    started, result = execute_in_thread(ex, a_job())

    wait_until(lambda: started, what="build created")
    assert len(drone.calls_to("POST", f"/api/repos/{CI_REPO}/builds")) == 2
    assert list(drone.builds) == [(CI_REPO, 1)]
    drone.finish(CI_REPO, 1, "success")
    assert wait_until(lambda: result.get("outcome"), what="outcome").verdict == "pass"


def test_resumes_an_existing_build_without_creating_another(drone: StandinDrone) -> None:
    ex = executor(drone)
    first_started, first = execute_in_thread(ex, a_job())
    wait_until(lambda: first_started, what="build created")

    resumed_job = a_job(external_id="1")
    assert ex.can_resume(resumed_job)
    started, result = execute_in_thread(ex, resumed_job)
    drone.finish(CI_REPO, 1, "success")

    assert wait_until(lambda: result.get("outcome"), what="outcome").verdict == "pass"
    assert started == []
    assert len(drone.calls_to("POST")) == 1


def test_drone_outage_while_waiting_is_tolerated(drone: StandinDrone) -> None:
    ex = executor(drone)
    started, result = execute_in_thread(ex, a_job())
    wait_until(lambda: started, what="build created")
    drone.fail_next("GET", "/api/repos/", times=8, status=502)
    drone.finish(CI_REPO, 1, "success")
    assert wait_until(lambda: result.get("outcome"), what="outcome").verdict == "pass"


def test_bridge_with_drone_executor_reports_the_build(
    start_bridge: StartBridge, drone: StandinDrone, forge: StandinForge
) -> None:
    bridge = start_bridge(
        executor_config={
            "kind": "drone",
            "url": drone.url,
            "token": {"env": "BRIDGE_TEST_SECRET_DRONE"},
            "repo": CI_REPO,
            "poll_interval_seconds": 0.02,
        }
    )
    bridge.comment("!testme stages=install,upgrade")

    wait_until(lambda: drone.builds, what="drone build")
    build_url = f"{drone.url}/{CI_REPO}/1"
    wait_until(
        lambda: build_url in forge.bot_comments(REPO, 1)[0]["body"], what="comment links the build"
    )
    assert drone.builds[(CI_REPO, 1)]["params"]["STAGES"] == "install,upgrade"

    drone.finish(CI_REPO, 1, "success", "CCCI-VERDICT: pass\n## all tiers passed\n")

    wait_until(lambda: [j for j in bridge.jobs() if j.reported], what="run reported")
    body = forge.bot_comments(REPO, 1)[0]["body"]
    assert "passed" in body and "## all tiers passed" in body and build_url in body
    final = forge.statuses_for(HEAD)[-1]
    assert (final["state"], final["target_url"]) == ("success", build_url)


def test_shipped_pipeline_matches_what_the_executor_sends_and_reads() -> None:
    import yaml

    from runner.bridge.config import REPO_ROOT

    pipeline = yaml.safe_load((REPO_ROOT / "deploy/drone/cc-ci.drone.yml").read_text())
    assert pipeline["kind"] == "pipeline"
    assert pipeline["trigger"]["event"] == ["custom"]  # builds created through the API are `custom`
    steps = {step["name"]: step for step in pipeline["steps"]}
    assert "python -m runner.run_recipe_ci" in " ".join(steps["run"]["commands"])
    summary_step = DroneExecutorConfig.model_fields["summary_step"].default
    assert summary_step in steps
    assert set(steps[summary_step]["when"]["status"]) == {"success", "failure"}
    assert "CCCI-VERDICT:" in " ".join(steps[summary_step]["commands"])
    assert "CCCI_RUNS_DIR" in pipeline["environment"]


def test_a_forks_build_carries_where_its_head_lives(drone: StandinDrone) -> None:
    fork = "https://forge.example/alice/recipe.git"
    started, _ = execute_in_thread(executor(drone), a_job(head_repo=fork))
    wait_until(lambda: started, what="build created")
    (create,) = drone.calls_to("POST", f"/api/repos/{CI_REPO}/builds")
    assert create.query["PR_HEAD_REPO"] == fork and create.query["REF"] == "c" * 40
    drone.finish(CI_REPO, 1, "success", "CCCI-VERDICT: pass\n")


def _step_commands(name: str) -> list[str]:
    import yaml

    from runner.bridge.config import REPO_ROOT

    pipeline = yaml.safe_load((REPO_ROOT / "deploy/drone/cc-ci.drone.yml").read_text())
    return next(step for step in pipeline["steps"] if step["name"] == name)["commands"]


def test_a_run_refused_before_deploying_tells_the_pr_its_one_line_through_drone(
    tmp_path: Path
) -> None:
    """The pipeline's own commands, run by sh in a workspace: a run that refuses (exit 5, no run
    dir) keeps its exit code, and the summary step prints its error line for the PR."""
    fake = tmp_path / ".venv" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\necho 'cloning my-recipe' >&2\n"
                    "echo \"cc-ci: error: PR 7's head is 0123abcd, not REF 4567ef01\" >&2\nexit 5\n")
    fake.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "CCCI_RUNS_DIR": str(tmp_path / "runs"), "CCCI_RUN_ID": "my-recipe-pr7-abc"}
    run = subprocess.run(["sh", "-c", _step_commands("run")[-1]], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 5 and "cc-ci: error: PR 7's head" in run.stdout  # streamed, and kept
    summary = subprocess.run(["sh", "-c", "\n".join(_step_commands("summary"))], cwd=tmp_path, env=env,
                             capture_output=True, text=True)
    assert summary.stdout.splitlines() == ["CCCI-VERDICT: error", "cc-ci: error: PR 7's head is 0123abcd, not REF 4567ef01"]
