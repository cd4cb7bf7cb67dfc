"""Replies are durable and sent once: each decision writes the reply it owes in the same
transaction as the decision, the outbox sends it afterwards, and creating a comment first looks
for the bot's comment carrying the same marker. A SIGKILL at any moment loses no reply and
duplicates no comment."""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from runner.bridge.forge.client import ForgeClient
from runner.bridge.forge.events import CommentEvent, delivery_key
from runner.bridge.refusals import reply_marker
from runner.bridge.retry import RetryPolicy
from runner.bridge.store import Decision, Reply, Store
from runner.bridge.store import outbox as outbox_table
from tests.unit.bridge.bridge_standins import StandinForge
from tests.unit.bridge.support import FORGE_TOKEN, MEMBER, REPO, BridgeProcess, FakeRuns, wait_until

EVENT = CommentEvent(REPO, 1, 42, "!testme nope", MEMBER, True, "webhook")


def test_a_decision_and_its_reply_are_stored_together_and_survive_a_restart(tmp_path: Path) -> None:
    store = Store(tmp_path / "q.sqlite3")
    key = delivery_key(EVENT.repo, EVENT.comment_id)
    store.add_to_inbox(key, EVENT)

    store.decide(
        key, Decision("malformed: x", reply=Reply(REPO, 1, "cc-ci: x"), marker="<!-- m -->")
    )
    store.close()  # the bridge dies before sending

    again = Store(tmp_path / "q.sqlite3")
    assert again.inbox_outcomes() == {key: "malformed: x"}
    item = again.claim_outbox(time.time())
    assert item is not None and (item.kind, item.body, item.marker) == (
        "reply",
        "cc-ci: x",
        "<!-- m -->",
    )
    again.close()


def test_a_failed_decision_leaves_neither_outcome_nor_reply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "q.sqlite3")
    key = delivery_key(EVENT.repo, EVENT.comment_id)
    store.add_to_inbox(key, EVENT)
    real = outbox_table.add_in

    def add_then_die(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(outbox_table, "add_in", add_then_die)
    with pytest.raises(sqlite3.OperationalError):
        store.decide(key, Decision("malformed: x", reply=Reply(REPO, 1, "x"), marker="<!-- m -->"))
    assert store.inbox_outcomes() == {key: None}  # still pending: evaluated again later
    assert store.outbox_counts() == {}
    store.close()


def test_a_comment_that_already_exists_is_found_not_posted_again(forge: StandinForge) -> None:
    client = ForgeClient(forge.url, SecretStr(FORGE_TOKEN), RetryPolicy(2, 0.0, 0.0))
    marker = reply_marker(7)
    first, made = client.post_comment("coop-cloud", "custom-html-tiny", 1, f"{marker}\nhi", marker)
    forge.user_comment(REPO, 1, "mallory", f"{marker}\nquoting the bot")  # not the bot's comment
    again, made_again = client.post_comment(
        "coop-cloud", "custom-html-tiny", 1, f"{marker}\nhi", marker
    )
    client.close()

    assert (again, made, made_again) == (first, True, False)
    assert len(forge.calls_to("POST", "/issues/1/comments")) == 1
    assert len(forge.bot_comments(REPO, 1)) == 1


def test_a_lost_create_answer_is_retried_without_a_second_comment(forge: StandinForge) -> None:
    # The forge creates the comment, then the answer is lost (502 from a proxy).
    forge.answer_next(
        "POST",
        "/api/v1/repos/coop-cloud/custom-html-tiny/issues/1/comments",
        1,
        502,
        b"bad gateway",
        "text/plain",
        handle_first=True,
    )
    client = ForgeClient(forge.url, SecretStr(FORGE_TOKEN), RetryPolicy(3, 0.0, 0.0))
    marker = reply_marker(8)
    comment_id, _ = client.post_comment(
        "coop-cloud", "custom-html-tiny", 1, f"{marker}\nhi", marker
    )
    client.close()
    assert [c["id"] for c in forge.bot_comments(REPO, 1)] == [comment_id]


def deliver(bridge_proc: BridgeProcess, forge: StandinForge, comment: dict[str, Any]) -> bool:
    """One delivery, as the forge makes it; False when the bridge did not answer (it was killed)."""
    try:
        bridge_proc.deliver_again(forge, comment)
        return True
    except (httpx.HTTPError, AssertionError):
        return False


def tally(forge: StandinForge, db: Path) -> tuple[dict[str, int], dict[str, int]]:
    """(replies owed, replies on the forge) by kind, and one entry per run for its comment."""
    bodies = [c["body"] for n in range(1, 11) for c in forge.bot_comments(REPO, n)]
    with sqlite3.connect(db) as conn:
        outcomes = [row[0] or "" for row in conn.execute("SELECT outcome FROM inbox")]
        runs = [row[0] for row in conn.execute("SELECT base_run_id FROM jobs")]
    owed = {
        "already queued as run": sum(o.startswith("coalesced:") for o in outcomes),
        "is not an option": sum(o.startswith("malformed:") for o in outcomes),
        **{f"<!-- cc-ci run {run} -->": 1 for run in runs},
        "evaluated": 100,
    }
    got = {key: sum(key in body for body in bodies) for key in owed if key != "evaluated"}
    got["evaluated"] = sum(bool(o) for o in outcomes)
    return owed, got


def jobs_by_comment(db: Path) -> dict[int, str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT delivery_key, base_run_id FROM jobs").fetchall()
    return {int(key.rsplit("-", 1)[1]): run for key, run in rows}


def test_a_sigkill_during_a_burst_of_100_loses_no_reply_and_duplicates_no_comment(
    bridge_proc: BridgeProcess, standin_forge: StandinForge, fake_runs: FakeRuns
) -> None:
    forge = standin_forge
    for number in range(4, 11):
        forge.add_pull(REPO, number, f"{number:x}" * 40)
    forge.delay = 0.3  # every answer comes 0.3 s after the forge acted
    fake_runs.hold()  # one run holds the slot; the rest queue and coalesce
    bridge_proc.start()

    comments = [
        forge.user_comment(REPO, 1 + n % 10, MEMBER, "!testme" if n % 3 else "!testme nope")
        for n in range(100)
    ]
    unanswered: list[dict] = []
    lock = threading.Lock()

    def one(comment: dict[str, Any]) -> None:
        if not deliver(bridge_proc, forge, comment):
            with lock:
                unanswered.append(comment)

    with ThreadPoolExecutor(8) as pool:
        burst = [pool.submit(one, comment) for comment in comments]
        # Kill while replies are in flight: some landed, most not, some created but unanswered.
        wait_until(
            lambda: len(forge.calls_to("POST", "/comments")) >= 12,
            timeout=30,
            what="the first replies to land",
        )
        bridge_proc.kill()
        for future in burst:
            future.result()
    # The slow answers were there to catch replies in flight at the kill; from here on they would
    # only make the restarted bridge's catching up (a lookup and a post per reply) wait.
    forge.delay = 0.01
    posted_before = len(forge.calls_to("POST", "/comments"))

    bridge_proc.start()
    for comment in unanswered:  # the forge retries deliveries the dead bridge did not answer
        bridge_proc.deliver_again(forge, comment)

    def all_answered() -> bool:
        owed, got = tally(forge, bridge_proc.db)
        return all(got[key] >= n for key, n in owed.items())

    wait_until(all_answered, timeout=45, what="every comment answered")
    wait_until(lambda: _idle(bridge_proc.db), timeout=30, what="nothing left to send")
    owed, got = tally(forge, bridge_proc.db)
    assert got == owed, "a reply was lost or a comment created twice"
    assert owed["already queued as run"] > 40 and owed["is not an option"] == 34
    markers = [
        c["body"].split("\n", 1)[0] for n in range(1, 11) for c in forge.bot_comments(REPO, n)
    ]
    assert len(markers) == len(set(markers)), "a comment was created twice"
    assert len(markers) == sum(n for key, n in owed.items() if key != "evaluated")
    runs = jobs_by_comment(bridge_proc.db)
    for comment in comments:  # each comment is answered by its run's comment or its own reply
        mine = (
            f"<!-- cc-ci run {runs[comment['id']]} -->"
            if comment["id"] in runs
            else reply_marker(comment["id"])
        )
        assert markers.count(mine) == 1, comment
    assert posted_before < len(forge.calls_to("POST", "/comments"))  # the restart did send


def _idle(db: Path) -> bool:
    with sqlite3.connect(db) as conn:
        pending = conn.execute("SELECT COUNT(*) FROM inbox WHERE state = 'pending'").fetchone()[0]
        try:
            busy = conn.execute("SELECT COUNT(*) FROM outbox WHERE state != 'sent'").fetchone()[0]
        except sqlite3.OperationalError:  # a bridge without an outbox
            busy = 0
    return busy == 0 and pending == 0
