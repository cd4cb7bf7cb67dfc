"""The durable queue: dedup keys, coalescing, claim order, run ids across attempts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.bridge.forge.events import CommentEvent, coalesce_key, delivery_key
from runner.bridge.store import RUN_ID_RE, Job, NewJob, Store, attempt_run_id, make_run_id

EVENT = CommentEvent("Coop-Cloud/Recipe", 3, 42, "!testme", "alice", True, "webhook")


def new_job(
    pr: int = 3, sha: str = "a" * 40, stages: tuple[str, ...] = ("install",), comment: int = 42
) -> NewJob:
    return NewJob(
        repo="coop-cloud/recipe",
        recipe="recipe",
        pr=pr,
        head_sha=sha,
        stages=stages,
        coalesce_key=coalesce_key("coop-cloud/recipe", pr, sha, stages),
        delivery_key=delivery_key("coop-cloud/recipe", comment),
        requested_by="alice",
        received_at=0.0,
    )


def claim(store: Store) -> Job:
    job = store.claim_next_queued()
    assert job is not None, "no queued job"
    return job


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "q.sqlite3")
    yield s
    s.close()


def test_delivery_key_is_per_comment_and_case_insensitive_in_the_repo() -> None:
    assert delivery_key("Coop-Cloud/Recipe", 42) == delivery_key("coop-cloud/recipe", 42)
    assert delivery_key("coop-cloud/recipe", 42) != delivery_key("coop-cloud/recipe", 43)


def test_coalesce_key_distinguishes_head_and_stages() -> None:
    base = coalesce_key("o/r", 1, "A" * 40, ("install",))
    assert base == coalesce_key("O/R", 1, "a" * 40, ("install",))
    assert base != coalesce_key("o/r", 1, "b" * 40, ("install",))
    assert base != coalesce_key("o/r", 1, "a" * 40, ("install", "upgrade"))
    assert base != coalesce_key("o/r", 2, "a" * 40, ("install",))


def test_inbox_accepts_a_comment_once(store: Store) -> None:
    key = delivery_key(EVENT.repo, EVENT.comment_id)
    assert store.add_to_inbox(key, EVENT) is True
    assert store.add_to_inbox(key, EVENT) is False
    assert [item.event for item in store.pending_inbox(now=1e12)] == [EVENT]
    store.close_inbox(key, "queued: x")
    assert store.pending_inbox(now=1e12) == []


def test_deferred_inbox_item_waits_until_its_retry_time(store: Store) -> None:
    key = delivery_key(EVENT.repo, EVENT.comment_id)
    store.add_to_inbox(key, EVENT, now=100.0)
    store.defer_inbox(key, next_try_at=200.0)
    assert store.pending_inbox(now=150.0) == []
    assert store.pending_inbox(now=200.0)[0].attempts == 1


def test_same_head_and_stages_coalesce_only_while_queued(store: Store) -> None:
    first, what1 = store.enqueue(new_job(comment=1))
    second, what2 = store.enqueue(new_job(comment=2))
    assert (what1, what2) == ("queued", "coalesced")
    assert second.id == first.id
    assert claim(store).id == first.id
    third, what3 = store.enqueue(new_job(comment=3))  # first is running now: a new run is queued
    assert what3 == "queued" and third.id != first.id


def test_the_same_comment_evaluated_again_returns_its_job(store: Store) -> None:
    job, _ = store.enqueue(new_job(comment=1))
    again, what = store.enqueue(new_job(comment=1, sha="b" * 40))
    assert (again.id, what) == (job.id, "known")


def test_jobs_are_claimed_in_queue_order(store: Store) -> None:
    ids = [store.enqueue(new_job(pr=n, comment=n))[0].id for n in (5, 6, 7)]
    claimed = [claim(store).id for _ in ids]
    assert claimed == ids
    assert store.claim_next_queued() is None
    assert all(job.state == "running" and job.started_at for job in store.jobs())


def test_requeue_gives_the_next_attempt_its_own_run_id(store: Store) -> None:
    job, _ = store.enqueue(new_job())
    store.claim_next_queued()
    store.set_external(job.id, "12345", None)
    again = store.requeue(job.id)
    assert (again.state, again.attempt, again.external_id) == ("queued", 2, None)
    assert again.run_id == f"{job.run_id}-a2" and again.base_run_id == job.run_id
    found = store.job_by_run_id(again.run_id)
    assert found is not None and found.id == job.id


def test_queue_survives_reopening(tmp_path: Path) -> None:
    first = Store(tmp_path / "q.sqlite3")
    job, _ = first.enqueue(new_job())
    first.close()
    second = Store(tmp_path / "q.sqlite3")
    assert [j.id for j in second.jobs("queued")] == [job.id]
    second.close()


@pytest.mark.parametrize(
    "recipe", ["custom-html-tiny", "/srv/recipes/My_Recipe.git/", "a" * 80, "---", "x"]
)
def test_run_ids_fit_the_harness_pattern(recipe: str) -> None:
    run_id = make_run_id(recipe, 123456)
    assert RUN_ID_RE.match(run_id)
    assert RUN_ID_RE.match(attempt_run_id(run_id, 9))


def test_run_ids_are_readable_and_unique() -> None:
    assert re.fullmatch(r"custom-html-tiny-pr7-[0-9a-f]{6}", make_run_id("custom-html-tiny", 7))
    assert len({make_run_id("r", 1) for _ in range(200)}) == 200
