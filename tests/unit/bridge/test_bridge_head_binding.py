"""A run tests only a head that existed when the member commented: the bridge reads from the
PR's timeline when the head last moved, accepts `sha=` to pin a commit, and checks again right
before a queued job starts."""

from __future__ import annotations

from runner.bridge.poller import Poller
from tests.unit.bridge.bridge_standins import StandinForge, seconds_ago
from tests.unit.bridge.support import (
    HEAD,
    MEMBER,
    REPO,
    FakeRuns,
    StartBridge,
    wait_until,
)

NEW = "abcdef0123456789abcdef0123456789abcdef01"


def reply_bodies(forge: StandinForge, number: int = 1) -> list[str]:
    return [c["body"] for c in forge.bot_comments(REPO, number)]


def test_a_push_after_the_comment_starts_no_run_and_says_how_to_test_the_new_head(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    bridge = start_bridge()
    comment = forge.user_comment(REPO, 1, MEMBER, "!testme")
    forge.push(REPO, 1, NEW)  # the author pushes before the bridge gets to the comment

    assert bridge.deliver(forge.webhook_payload(comment)).status_code == 202

    assert list(bridge.settle().values()) == [
        "refused: the head changed after the comment (now abcdef0123)"
    ]
    assert bridge.jobs() == [] and fake_runs.invocations() == []
    replies = wait_until(lambda: reply_bodies(forge), what="reply")
    assert len(replies) == 1
    assert (
        "the PR changed after your comment; comment `!testme` again to test abcdef0123"
        in replies[0]
    )
    assert forge.statuses == []


def test_a_push_the_member_saw_before_commenting_is_what_runs(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    forge.push(REPO, 1, NEW, at=seconds_ago(30))
    bridge = start_bridge()

    bridge.comment("!testme")

    job = wait_until(lambda: [j for j in bridge.jobs() if j.reported], what="run reported")[0]
    assert job.head_sha == NEW and fake_runs.invocations()[0]["REF"] == NEW


def test_a_head_the_timeline_does_not_show_yet_is_not_run(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    # Gitea moves the head at once but writes the push event asynchronously.
    forge.push(REPO, 1, NEW, record=False)
    bridge = start_bridge()

    bridge.comment("!testme")

    assert list(bridge.settle().values())[0].startswith("refused: the head changed")
    assert bridge.jobs() == []
    wait_until(lambda: reply_bodies(forge), what="reply")


def test_a_force_push_after_the_comment_is_refused_too(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    bridge = start_bridge()
    comment = forge.user_comment(REPO, 1, MEMBER, "!testme")
    forge.push(REPO, 1, NEW, force=True)
    bridge.deliver(forge.webhook_payload(comment))
    assert list(bridge.settle().values())[0].startswith("refused: the head changed")
    assert bridge.jobs() == []


def test_a_push_on_a_later_timeline_page_is_seen(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    forge.max_page = 2  # this forge caps pages below what the bridge asks for
    for n in range(4):
        forge.push(REPO, 1, f"{n:040x}", at=seconds_ago(100 - n))
    bridge = start_bridge()
    comment = forge.user_comment(REPO, 1, MEMBER, "!testme")
    forge.push(REPO, 1, NEW)  # the sixth event: on the third page
    bridge.deliver(forge.webhook_payload(comment))
    assert list(bridge.settle().values())[0].startswith("refused: the head changed")
    assert bridge.jobs() == []
    pages = [call.query["page"] for call in forge.calls_to("GET", "/timeline")]
    assert pages == ["1", "2", "3", "4"]  # read to the first empty page


def test_a_polled_comment_is_bound_to_its_time_too(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    bridge = start_bridge()
    poller = Poller(
        bridge.bridge.cfg, bridge.bridge.store, bridge.bridge.forge, bridge.bridge.intake
    )
    bridge.bridge.store.set_cursor(REPO, seconds_ago(60))
    forge.user_comment(REPO, 1, MEMBER, "!testme")
    forge.push(REPO, 1, NEW)  # within the poll interval

    assert poller.poll_once() == 1

    assert list(bridge.settle().values())[0].startswith("refused: the head changed")
    assert bridge.jobs() == []


def test_sha_pins_the_current_head_and_any_other_commit_is_refused(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    fake_runs.hold()
    bridge = start_bridge()

    bridge.comment(f"!testme sha={HEAD[:7]}")
    bridge.comment("!testme sha=deadbee")

    outcomes = sorted(bridge.settle().values())
    assert outcomes[0].startswith("queued: ")
    assert outcomes[1] == "refused: sha=deadbee is not the head (1111111111)"
    assert [j.head_sha for j in bridge.jobs()] == [HEAD]
    replies = wait_until(
        lambda: [b for b in reply_bodies(forge) if "sha=deadbee" in b], what="refusal"
    )
    assert "`sha=deadbee` is not the head of this PR (the head is 1111111111)" in replies[0]


def test_a_pinned_prefix_shared_by_a_commit_pushed_after_the_comment_is_refused(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    forge.push(REPO, 1, NEW, at=seconds_ago(30))
    bridge = start_bridge()
    comment = forge.user_comment(REPO, 1, MEMBER, f"!testme sha={NEW[:7]}")
    twin = NEW[:7] + "9" * 33  # made by the author to share the prefix the member pinned
    forge.push(REPO, 1, twin)

    bridge.deliver(forge.webhook_payload(comment))

    assert list(bridge.settle().values())[0].startswith("refused: the head changed")
    assert bridge.jobs() == []


def test_without_a_timeline_api_only_a_pinned_sha_runs(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    forge.timeline_api = False  # a Gitea older than 1.15
    fake_runs.hold()
    bridge = start_bridge()

    bridge.comment("!testme")
    assert list(bridge.settle().values()) == ["refused: the forge has no PR timeline"]
    reply = wait_until(lambda: reply_bodies(forge), what="reply")[0]
    assert f"comment `!testme sha={HEAD}` to test {HEAD[:10]}" in reply

    bridge.comment(f"!testme sha={HEAD}")
    wait_until(lambda: bridge.jobs(), what="pinned run queued")
    assert bridge.jobs()[0].head_sha == HEAD


def test_an_old_inbox_row_without_the_comment_time_asks_the_forge(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    bridge = start_bridge()
    comment = forge.user_comment(REPO, 1, MEMBER, "!testme")
    payload = forge.webhook_payload(comment)
    del payload["comment"]["created_at"], payload["comment"]["updated_at"]
    forge.push(REPO, 1, NEW)

    bridge.deliver(payload)

    assert list(bridge.settle().values())[0].startswith("refused: the head changed")
    assert forge.calls_to("GET", f"/issues/comments/{comment['id']}")


def test_a_head_that_moves_while_the_job_waits_is_not_run(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    fake_runs.hold()
    forge.add_pull(REPO, 2, "2" * 40)
    bridge = start_bridge()
    bridge.comment("!testme", number=2)  # occupies the only slot
    wait_until(lambda: fake_runs.invocations(), what="first run to start")
    bridge.comment("!testme")  # PR 1 waits in the queue
    waiting = wait_until(lambda: bridge.jobs("queued"), what="PR 1 queued")[0]
    wait_until(lambda: "queued for" in " ".join(reply_bodies(forge)), what="accept comment")

    forge.push(REPO, 1, NEW)
    fake_runs.release()

    job = wait_until(
        lambda: [j for j in bridge.jobs() if j.id == waiting.id and j.reported],
        what="cancel reported",
    )[0]
    assert job.state == "cancelled"
    assert [inv["PR"] for inv in fake_runs.invocations()] == ["2"]  # PR 1 never ran
    body = reply_bodies(forge)[0]
    assert "was **not started**: the PR's head moved to abcdef0123 while the run waited" in body
    assert "comment `!testme` again to test abcdef0123" in body
    assert forge.statuses_for(HEAD)[-1]["state"] == "error"


def test_a_pr_closed_while_the_job_waits_is_not_run(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    fake_runs.hold()
    forge.add_pull(REPO, 2, "2" * 40)
    bridge = start_bridge()
    bridge.comment("!testme", number=2)
    wait_until(lambda: fake_runs.invocations(), what="first run to start")
    bridge.comment("!testme")
    wait_until(lambda: bridge.jobs("queued"), what="PR 1 queued")

    forge.pulls[(REPO, 1)]["state"] = "closed"
    fake_runs.release()

    wait_until(
        lambda: bridge.jobs("cancelled") and bridge.jobs("cancelled")[0].reported,
        what="cancel reported",
    )
    assert [inv["PR"] for inv in fake_runs.invocations()] == ["2"]
    assert "the PR was closed while the run waited" in reply_bodies(forge)[0]
