"""Nothing lost to downtime: a `!testme` made while the bridge was down runs exactly once after
it starts, in webhook-only mode too (Gitea does not redeliver a webhook that failed), and a later
redelivery or poll of the same comment starts nothing more."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from runner.bridge.forge.client import forge_time, rfc3339
from runner.bridge.intake import CATCH_UP_MARGIN
from runner.bridge.poller import Poller
from tests.unit.bridge.bridge_standins import StandinForge
from tests.unit.bridge.support import (
    MEMBER,
    REPO,
    SHAS,
    BridgeProcess,
    FakeRuns,
    StartBridge,
    wait_until,
)


def ran(fake_runs: FakeRuns) -> list[str]:
    return [run["PR"] for run in fake_runs.invocations()]


def test_a_comment_made_while_the_bridge_was_stopped_runs_once_after_it_starts(
    bridge_proc: BridgeProcess, standin_forge: StandinForge, fake_runs: FakeRuns
) -> None:
    bridge_proc.start()  # webhook-only (no poll interval): the first start only sets the cursor
    wait_until(lambda: bridge_proc.health()["caught_up"], what="first catch-up")
    bridge_proc.stop()
    wait_until(  # the forge's clock has one-second steps: comment strictly after the cursor
        lambda: rfc3339(datetime.now(UTC)) > cursor_of(bridge_proc), what="clock tick"
    )
    comment = standin_forge.user_comment(REPO, 1, MEMBER, "!testme")  # no webhook reaches it

    bridge_proc.start()

    wait_until(lambda: ran(fake_runs) == ["1"], timeout=30, what="the missed comment to run")
    wait_until(lambda: bridge_proc.job_states()[1][0] == "finished", what="the run to end")
    bridge_proc.deliver_again(standin_forge, comment)  # a late redelivery of the same comment
    bridge_proc.stop()
    bridge_proc.start()  # and another catch-up, which lists the comment again
    wait_until(lambda: bridge_proc.health()["caught_up"], what="second catch-up")
    assert ran(fake_runs) == ["1"], "exactly once"
    assert len(bridge_proc.job_states()) == 1
    assert "catch-up coop-cloud/custom-html-tiny: 1 !testme comment(s)" in bridge_proc.log.read_text()


def cursor_of(bridge_proc: BridgeProcess) -> str:
    import sqlite3

    with sqlite3.connect(bridge_proc.db) as db:
        return db.execute("SELECT since FROM cursors").fetchone()[0]


def test_the_first_start_does_not_replay_history(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    forge.user_comment(REPO, 1, MEMBER, "!testme", at="2020-01-01T00:00:00Z")

    bridge = start_bridge()

    wait_until(bridge.bridge.poller.caught_up.is_set, what="catch-up")
    assert bridge.bridge.store.cursor(REPO) is not None
    assert bridge.jobs() == [] and fake_runs.invocations() == []


def test_in_webhook_only_mode_a_delivered_comment_moves_the_cursor_with_a_margin(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    fake_runs.hold()
    bridge = start_bridge()
    wait_until(bridge.bridge.poller.caught_up.is_set, what="catch-up")
    comment = forge.user_comment(REPO, 1, MEMBER, "looks good", at="2100-01-01T12:00:00+02:00")

    bridge.deliver(forge.webhook_payload(comment))

    moved = forge_time(bridge.bridge.store.cursor(REPO) or "")
    assert moved == datetime(2100, 1, 1, 10, tzinfo=UTC) - CATCH_UP_MARGIN
    older = forge.user_comment(REPO, 1, MEMBER, "earlier", at="2099-01-01T00:00:00Z")
    bridge.deliver(forge.webhook_payload(older))
    assert forge_time(bridge.bridge.store.cursor(REPO) or "") == moved  # never moves back


def test_with_polling_on_webhooks_leave_the_cursor_to_the_polls(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    # A webhook lost while up is what polling is there to find: a later webhook must not move
    # the poll's cursor past it.
    bridge = start_bridge(poll={"interval_seconds": 3600})
    wait_until(bridge.bridge.poller.caught_up.is_set, what="first poll")
    before = bridge.bridge.store.cursor(REPO)
    comment = forge.user_comment(REPO, 1, MEMBER, "later", at="2100-01-01T00:00:00Z")

    bridge.deliver(forge.webhook_payload(comment))

    assert bridge.bridge.store.cursor(REPO) == before


def test_catch_up_starts_from_the_cursor_saved_before_webhooks_were_served(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    bridge = start_bridge()
    store = bridge.bridge.store
    store.set_cursor(REPO, "2024-05-01T10:00:00Z")
    poller = Poller(bridge.bridge.cfg, store, bridge.bridge.forge, bridge.bridge.intake)
    poller.save_cursors()
    store.advance_cursor(REPO, "2100-01-01T00:00:00Z")  # a webhook arrived meanwhile

    poller.catch_up()

    assert forge.calls_to("GET", f"/repos/{REPO}/issues/comments")[-1].query["since"] == (
        "2024-05-01T10:00:00Z"
    )


def test_catch_up_is_retried_until_the_forge_answers(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    first = start_bridge()
    wait_until(first.bridge.poller.caught_up.is_set, what="first catch-up")
    first.bridge.stop()
    forge.user_comment(
        REPO, 1, MEMBER, "!testme", at=rfc3339(datetime.now(UTC) + timedelta(seconds=2))
    )
    # Every listing fails through the client's retries (3 attempts) twice over.
    forge.fail_next("GET", f"/api/v1/repos/{REPO}/issues/comments", times=6)

    second = start_bridge()

    wait_until(lambda: ran(fake_runs) == ["1"], timeout=30, what="the missed comment to run")
    assert second.bridge.poller.caught_up.is_set()
    assert len(forge.calls_to("GET", f"/repos/{REPO}/issues/comments")) >= 7


def test_one_catch_up_for_several_repos_and_prs(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    fake_runs.hold()
    for number, sha in SHAS.items():
        if number != 1:
            forge.add_pull(REPO, number, sha)
    first = start_bridge()
    wait_until(first.bridge.poller.caught_up.is_set, what="first catch-up")
    first.bridge.stop()
    later = rfc3339(datetime.now(UTC) + timedelta(seconds=2))
    for number in SHAS:
        forge.user_comment(REPO, number, MEMBER, "!testme", at=later)

    second = start_bridge()

    wait_until(lambda: len(second.jobs()) == 3, what="three missed comments queued")
    assert sorted(job.pr for job in second.jobs()) == [1, 2, 3]
