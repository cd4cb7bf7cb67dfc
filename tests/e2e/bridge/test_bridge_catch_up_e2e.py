"""A `!testme` made while the bridge was stopped, in webhook-only mode (no webhook ever reaches
it: Gitea does not redeliver), runs exactly once for real after the bridge starts: a real run of
custom-html-tiny on the local swarm, reported on the PR; a late redelivery starts nothing more."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from runner.bridge.poller import rfc3339
from runner.bridge.service import Bridge, load_secrets
from tests.e2e.bridge.published import publish_pr
from tests.unit.bridge.support import (
    MEMBER,
    REPO,
    RunningBridge,
    wait_until,
)

pytestmark = pytest.mark.e2e

NAME = "catch-up-demo"  # the example, cloned over file:// as a forge serves it


def test_a_testme_made_while_the_bridge_was_down_runs_once_for_real_after_it_starts(
    tmp_path: Path, forge, bridge_config
):
    recipe_env, head = publish_pr(tmp_path, 1, NAME)
    forge.add_pull(REPO, 1, head)
    runs_dir = tmp_path / "runs"
    cfg = bridge_config(NAME, recipe_env)
    first = Bridge(cfg, load_secrets(cfg))
    first.start_in_thread()
    wait_until(first.poller.caught_up.is_set, what="the first start's catch-up")
    cursor = first.store.cursor(REPO)
    first.stop()
    assert cursor is not None
    wait_until(lambda: rfc3339(datetime.now(UTC)) > cursor, what="a forge clock tick")
    comment = forge.user_comment(REPO, 1, MEMBER, "!testme")  # the bridge is down: no webhook

    bridge = Bridge(cfg, load_secrets(cfg))
    running = RunningBridge(bridge, bridge.start_in_thread(), forge)
    try:
        job = wait_until(
            lambda: [j for j in running.jobs() if j.reported],
            timeout=900,
            what="the missed comment's real run to be reported",
        )[0]
        redelivered = running.deliver(forge.webhook_payload(comment))
        assert redelivered.json()["result"] == "duplicate"
        running.settle()
        jobs = running.jobs()
    finally:
        bridge.stop(cancel_runs=True)

    log = (tmp_path / "state" / "logs" / f"{job.run_id}.log").read_text()
    assert job.verdict == "pass", f"{job.summary}\n--- run log ---\n{log[-4000:]}"
    assert len(jobs) == 1 and [p.name for p in runs_dir.iterdir() if p.is_dir()] == [job.run_id]
    results = json.loads((runs_dir / job.run_id / "results.json").read_text())
    assert results["verdict"] == "pass" and results["ref"] == head
    (reply,) = forge.bot_comments(REPO, 1)
    assert f"run `{job.run_id}` **passed" in reply["body"]
    assert forge.statuses_for(head)[-1]["state"] == "success"
