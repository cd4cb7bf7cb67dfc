"""The whole way: a `!testme` webhook -> the bridge -> a real run of custom-html-tiny on the local
swarm (local executor, the real `run_recipe_ci`) -> the PR comment edited with the verdict and
the commit status set to success."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.bridge.service import Bridge, load_secrets
from tests.e2e.bridge.published import publish_pr
from tests.unit.bridge.support import (
    REPO,
    RunningBridge,
    wait_until,
)

pytestmark = pytest.mark.e2e

NAME = "full-run-demo"  # the example, cloned over file:// as a forge serves it


def test_testme_runs_custom_html_tiny_for_real_and_reports_success(
    tmp_path: Path, forge, bridge_config
):
    recipe_env, head = publish_pr(tmp_path, 1, NAME)
    forge.add_pull(REPO, 1, head)
    runs_dir = tmp_path / "runs"
    cfg = bridge_config(NAME, recipe_env)
    bridge = Bridge(cfg, load_secrets(cfg))
    running = RunningBridge(bridge, bridge.start_in_thread(), forge)
    try:
        assert running.comment("!testme").status_code == 202

        job = wait_until(
            lambda: [j for j in running.jobs() if j.reported],
            timeout=900,
            what="the real run to be reported",
        )[0]
    finally:
        bridge.stop(cancel_runs=True)

    log = (tmp_path / "state" / "logs" / f"{job.run_id}.log").read_text()
    assert job.verdict == "pass", f"{job.summary}\n--- run log ---\n{log[-4000:]}"
    results = json.loads((runs_dir / job.run_id / "results.json").read_text())
    assert results["verdict"] == "pass" and results["exit_code"] == 0
    (comment,) = forge.bot_comments(REPO, 1)
    assert f"run `{job.run_id}` **passed" in comment["body"]
    assert (runs_dir / job.run_id / "summary.md").read_text().strip() in comment["body"]
    assert forge.calls_to("PATCH", f"/issues/comments/{comment['id']}"), (
        "the accept comment was edited"
    )
    states = [s["state"] for s in forge.statuses_for(head)]
    assert states[0] == "pending" and states[-1] == "success"
    assert forge.statuses_for(head)[-1]["target_url"].endswith(f"/runs/{job.run_id}")
