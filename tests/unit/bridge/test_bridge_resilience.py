"""Forge failures are retried with backoff and logged; they never crash the bridge or lose a comment."""

from __future__ import annotations

import logging

import pytest

from tests.unit.bridge.bridge_standins import StandinForge
from tests.unit.bridge.support import HEAD, REPO, FakeRuns, StartBridge, wait_until


def test_transient_forge_errors_are_retried_and_the_run_still_reported(
    start_bridge: StartBridge,
    fake_runs: FakeRuns,
    forge: StandinForge,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="cc-ci.bridge")
    forge.fail_next("GET", "/api/v1/orgs/", times=2, status=503)
    forge.fail_next(
        "POST", "/api/v1/repos/coop-cloud/custom-html-tiny/statuses/", times=2, status=502
    )
    bridge = start_bridge()

    bridge.comment("!testme")

    job = wait_until(lambda: [j for j in bridge.jobs() if j.reported], what="run reported")[0]
    assert job.verdict == "pass"
    assert len(forge.calls_to("GET", "/members/")) == 3  # two 503s, then the answer
    assert forge.statuses_for(HEAD)[-1]["state"] == "success"
    assert "HTTP 503" in caplog.text and "retrying" in caplog.text


def test_forge_down_during_intake_defers_the_comment_and_evaluates_it_later(
    start_bridge: StartBridge,
    fake_runs: FakeRuns,
    forge: StandinForge,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="cc-ci.bridge")
    # More failures than one evaluation's retries (3): the comment is deferred, not dropped.
    forge.fail_next("GET", "/api/v1/orgs/", times=4, status=500)
    bridge = start_bridge()

    assert bridge.comment("!testme").status_code == 202

    outcome = list(bridge.settle().values())[0]
    assert outcome.startswith("queued: ")
    assert "evaluating again" in caplog.text
    assert len(bridge.jobs()) == 1


def test_forge_that_never_answers_gives_up_on_the_comment_without_crashing(
    start_bridge: StartBridge,
    fake_runs: FakeRuns,
    forge: StandinForge,
    caplog: pytest.LogCaptureFixture,
) -> None:
    forge.fail_next("GET", "/api/v1/orgs/", times=10_000, status=500)
    bridge = start_bridge()
    bridge.comment("!testme")
    assert list(bridge.settle().values()) == ["error: forge unreachable"]
    forge.faults.clear()
    bridge.comment("!testme")  # the bridge is still serving and evaluating
    assert sorted(o.split(":")[0] for o in bridge.settle().values()) == ["error", "queued"]


def test_failed_final_report_is_retried_on_the_next_start(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    bridge = start_bridge()
    forge.fail_next("PATCH", "/api/v1/repos/", times=10_000, status=500)
    bridge.comment("!testme")
    wait_until(lambda: [j for j in bridge.jobs() if j.state == "finished"], what="run to finish")
    job = bridge.jobs()[0]
    assert not job.reported
    bridge.bridge.stop()

    forge.faults.clear()
    again = start_bridge()

    wait_until(lambda: again.jobs()[0].reported, what="report after restart")
    assert "passed" in forge.bot_comments(REPO, 1)[0]["body"]
    assert forge.statuses_for(HEAD)[-1]["state"] == "success"


def test_failed_final_report_is_resent_while_the_bridge_runs(
    start_bridge: StartBridge,
    fake_runs: FakeRuns,
    forge: StandinForge,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("runner.bridge.dispatcher.REPORT_SWEEP_SECONDS", 0.2)
    bridge = start_bridge()
    forge.fail_next("PATCH", "/api/v1/repos/", times=10_000, status=500)
    bridge.comment("!testme")
    wait_until(lambda: [j for j in bridge.jobs() if j.state == "finished"], what="run to finish")

    forge.faults.clear()  # the forge comes back

    wait_until(lambda: bridge.jobs()[0].reported, what="report resent")
    assert "passed" in forge.bot_comments(REPO, 1)[0]["body"]


def test_second_bridge_on_the_same_state_dir_is_refused(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    import pytest

    from runner.errors import InfraError

    start_bridge()
    with pytest.raises(InfraError, match="another bridge is using state dir"):
        start_bridge()
