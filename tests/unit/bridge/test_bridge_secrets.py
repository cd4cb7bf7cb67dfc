"""No secret (forge token, webhook secret, Drone token) ever appears in logs, replies or run env."""

from __future__ import annotations

import logging

import pytest

from tests.unit.bridge.bridge_standins import StandinForge
from tests.unit.bridge.support import (
    FORGE_TOKEN,
    REPO,
    WEBHOOK_SECRET,
    FakeRuns,
    StartBridge,
    wait_until,
)

SENTINELS = (FORGE_TOKEN, WEBHOOK_SECRET)


def test_a_busy_bridge_logs_no_secret_even_at_debug(
    start_bridge: StartBridge,
    fake_runs: FakeRuns,
    forge: StandinForge,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, including httpx/httpcore/uvicorn
    forge.fail_next("GET", "/api/v1/orgs/", times=1, status=503)
    bridge = start_bridge(reply_to_unauthorised=True)

    bridge.comment("!testme")
    bridge.comment("!testme stages=nope")
    bridge.comment("!testme", login="mallory")
    bridge.deliver(
        forge.webhook_payload(forge.user_comment(REPO, 1, "alice", "!testme")), secret="wrong"
    )
    wait_until(lambda: [j for j in bridge.jobs() if j.reported], what="run reported")
    bridge.settle()

    assert (
        "retrying" in caplog.text and "bad or missing signature" in caplog.text
    )  # logging did happen
    for secret in SENTINELS:
        assert secret not in caplog.text
        assert all(secret not in c["body"] for c in forge.comments.values())
        assert all(secret not in str(s) for s in forge.statuses)


def test_the_run_does_not_inherit_the_bridges_secret_env_vars(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    bridge = start_bridge()
    bridge.comment("!testme")
    wait_until(lambda: fake_runs.invocations(), what="run to start")
    leaked = fake_runs.invocations()[0]["leaked_env"]
    assert "BRIDGE_TEST_SECRET_FORGE" not in leaked
    assert "BRIDGE_TEST_SECRET_WEBHOOK" not in leaked
