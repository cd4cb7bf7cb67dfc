"""The whole way: a `!testme` webhook -> the bridge -> a real run of custom-html-tiny on the local
swarm (local executor, the real `run_recipe_ci`) -> the PR comment edited with the verdict and
the commit status set to success."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.bridge.config import REPO_ROOT, BridgeConfig
from runner.bridge.service import Bridge, load_secrets
from tests.e2e.bridge.published import publish_pr
from tests.unit.bridge.bridge_standins import StandinForge
from tests.unit.bridge.support import (
    FORGE_TOKEN,
    MEMBER,
    ORG,
    REPO,
    WEBHOOK_SECRET,
    RunningBridge,
    wait_until,
)

pytestmark = pytest.mark.e2e

NAME = "full-run-demo"  # the example, cloned over file:// as a forge serves it
SUITE_DOMAIN_BASE = "ccci.test"  # the e2e suite's leftover check looks for this domain base


@pytest.fixture
def forge() -> Iterator[StandinForge]:
    server = StandinForge(FORGE_TOKEN)
    server.server.start()
    server.add_member(ORG, MEMBER)
    yield server
    server.server.stop()


def test_testme_runs_custom_html_tiny_for_real_and_reports_success(
    tmp_path: Path, forge, monkeypatch
):
    monkeypatch.setenv("BRIDGE_TEST_SECRET_FORGE", FORGE_TOKEN)
    monkeypatch.setenv("BRIDGE_TEST_SECRET_WEBHOOK", WEBHOOK_SECRET)
    recipe_env, head = publish_pr(tmp_path, 1, NAME)
    forge.add_pull(REPO, 1, head)
    runs_dir = tmp_path / "runs"
    cfg = BridgeConfig.model_validate(
        {
            "forge": {"url": forge.url, "token": {"env": "BRIDGE_TEST_SECRET_FORGE"}},
            "webhook": {"secret": {"env": "BRIDGE_TEST_SECRET_WEBHOOK"}, "port": 0},
            "repos": {REPO: NAME},
            "executor": {
                "kind": "local",
                "command": [sys.executable, "-m", "runner.run_recipe_ci"],
                "workdir": str(REPO_ROOT),
                "runs_dir": str(runs_dir),
                "timeout_seconds": 900,
                "env": {"CCCI_DOMAIN_BASE": SUITE_DOMAIN_BASE, **recipe_env},
            },
            "state_dir": str(tmp_path / "state"),
            "retry": {"attempts": 3, "base_seconds": 0.1, "max_seconds": 1},
        }
    )
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
