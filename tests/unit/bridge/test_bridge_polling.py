"""Polling intake: comments found through the forge API feed the same intake path as webhooks."""

from __future__ import annotations

from datetime import UTC, datetime

from runner.bridge.poller import Poller, newest, rfc3339
from tests.unit.bridge.bridge_standins import StandinForge
from tests.unit.bridge.support import MEMBER, REPO, FakeRuns, RunningBridge, StartBridge, wait_until


def test_cursor_moves_to_the_newest_forge_timestamp() -> None:
    assert (
        newest(
            "2024-05-01T10:00:00Z", ["2024-05-01T09:00:00Z", "2024-05-01T11:30:00+00:00", "garbage"]
        )
        == "2024-05-01T11:30:00Z"
    )
    assert newest("2024-05-01T10:00:00Z", []) == "2024-05-01T10:00:00Z"
    assert rfc3339(datetime(2024, 5, 1, 12, 0, tzinfo=UTC)) == "2024-05-01T12:00:00Z"


def cursor(running: RunningBridge) -> str:
    since = running.bridge.store.cursor(REPO)
    assert since is not None, "no poll cursor yet"
    return since


def poller_for(running: RunningBridge) -> Poller:
    b = running.bridge
    return Poller(b.cfg, b.store, b.forge, b.intake)


def first_poll(running: RunningBridge, poller: Poller) -> None:
    assert poller.poll_once() == 0  # first sight of the repo only sets the cursor
    # The forge's timestamps have one-second resolution: make later comments strictly newer.
    wait_until(
        lambda: rfc3339(datetime.now(UTC)) > cursor(running), what="clock tick"
    )


def test_polled_testme_queues_a_run_and_history_is_not_replayed(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    fake_runs.hold()
    forge.user_comment(REPO, 1, MEMBER, "!testme", at="2020-01-01T00:00:00Z")  # history
    bridge = start_bridge()
    poller = poller_for(bridge)
    first_poll(bridge, poller)
    forge.user_comment(REPO, 1, MEMBER, "!testme stages=install,upgrade")
    forge.user_comment(REPO, 1, MEMBER, "nice work")

    since = cursor(bridge)
    assert poller.poll_once() == 1

    assert forge.calls_to("GET", f"/repos/{REPO}/issues/comments")[-1].query["since"] == since
    assert cursor(bridge) >= since
    bridge.settle()
    assert [(j.pr, j.stages) for j in bridge.jobs()] == [(1, ("install", "upgrade"))]
    assert poller.poll_once() == 0  # seen comments are not submitted again


def test_same_comment_by_webhook_and_by_poll_starts_one_run(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    fake_runs.hold()
    bridge = start_bridge()
    poller = poller_for(bridge)
    first_poll(bridge, poller)
    comment = forge.user_comment(REPO, 1, MEMBER, "!testme")

    assert bridge.deliver(forge.webhook_payload(comment)).json()["result"] == "accepted"
    assert poller.poll_once() == 0  # the poll finds the same comment: a duplicate

    since = forge.calls_to("GET", "/issues/comments")[-1].query["since"]
    polled = bridge.bridge.forge.comments_since(REPO, since)
    assert comment["id"] in [c.event.comment_id for c in polled]  # the poll did see it
    bridge.settle()
    assert len(bridge.jobs()) == 1


def test_poller_thread_runs_at_the_configured_interval(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    fake_runs.hold()
    bridge = start_bridge(poll={"interval_seconds": 0.05})
    wait_until(lambda: bridge.bridge.store.cursor(REPO), what="first poll")
    wait_until(
        lambda: rfc3339(datetime.now(UTC)) > cursor(bridge), what="clock tick"
    )
    forge.user_comment(REPO, 1, MEMBER, "!testme")
    wait_until(lambda: bridge.jobs(), what="polled comment queued")
    assert bridge.jobs()[0].pr == 1


def test_polling_reads_every_page_when_the_forge_caps_pages_below_our_limit(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    fake_runs.hold()
    bridge = start_bridge()
    forge.max_page = 10  # an instance whose MAX_RESPONSE_ITEMS is below the poller's page size
    made = [forge.user_comment(REPO, 1, MEMBER, f"comment {n}")["id"] for n in range(25)]
    polled = bridge.bridge.forge.comments_since(REPO, "2000-01-01T00:00:00Z")
    assert set(made) <= {c.event.comment_id for c in polled}
