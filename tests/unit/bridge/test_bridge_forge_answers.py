"""Whatever the forge answers, the bridge neither crashes nor hangs: an answer that is not what
the API documents (missing fields, wrong types, HTML, an empty body) is a ForgeError saying what
was expected, and the job it concerned goes on or ends as `error` with a reason."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from runner.bridge.forge.client import ForgeClient, ForgeError, PullRequest
from runner.bridge.retry import RetryPolicy
from tests.unit.bridge.bridge_standins import StandinForge
from tests.unit.bridge.support import (
    FORGE_TOKEN,
    HEAD,
    REPO,
    FakeRuns,
    StartBridge,
    queue_counts,
    wait_until,
)

PULL = "/api/v1/repos/coop-cloud/custom-html-tiny/pulls/1"
CREATE = "/api/v1/repos/coop-cloud/custom-html-tiny/issues/1/comments"

BAD_ANSWERS = {
    "empty body": (200, b"", "application/json"),
    "HTML": (200, b"<html><body>Gateway login</body></html>", "text/html"),
    "a list": (200, b"[]", "application/json"),
    "missing fields": (200, b'{"number": 1}', "application/json"),
    "wrong types": (
        200,
        b'{"number": "one", "state": 1, "head": {"sha": null}}',
        "application/json",
    ),
}


def pull(client: ForgeClient, number: int) -> PullRequest:
    found = client.get_pull("coop-cloud", "custom-html-tiny", number)
    assert found is not None, f"PR #{number} is not a pull request"
    return found


@pytest.fixture
def client(forge: StandinForge) -> Iterator[ForgeClient]:
    c = ForgeClient(forge.url, SecretStr(FORGE_TOKEN), RetryPolicy(2, 0.0, 0.0))
    yield c
    c.close()


@pytest.mark.parametrize("answer", BAD_ANSWERS.values(), ids=BAD_ANSWERS.keys())
def test_an_unexpected_pull_answer_is_a_forge_error_saying_what_was_expected(
    forge: StandinForge, client: ForgeClient, answer: tuple[int, bytes, str]
) -> None:
    forge.answer_next("GET", PULL, 1, *answer)
    with pytest.raises(ForgeError, match="expected a pull request with number, state and head.sha"):
        client.get_pull("coop-cloud", "custom-html-tiny", 1)
    assert pull(client, 1).head_sha == HEAD  # next one is fine


@pytest.mark.parametrize(
    "answer",
    [
        (201, b"{}", "application/json"),
        (201, b'{"id": "12"}', "application/json"),
        (201, b"", "application/json"),
        (201, b"<html></html>", "text/html"),
    ],
    ids=["no id", "id as text", "empty", "HTML"],
)
def test_a_created_comment_without_an_id_is_a_forge_error(
    forge: StandinForge, client: ForgeClient, answer: tuple[int, bytes, str]
) -> None:
    forge.answer_next("POST", CREATE, 1, *answer)
    with pytest.raises(ForgeError, match="expected the created comment with its id"):
        client.post_comment("coop-cloud", "custom-html-tiny", 1, "<!-- m -->\nhi", "<!-- m -->")


def test_lists_and_timelines_that_are_not_lists_are_forge_errors(
    forge: StandinForge, client: ForgeClient
) -> None:
    forge.answer_next(
        "GET",
        "/api/v1/repos/coop-cloud/custom-html-tiny/issues/comments",
        1,
        200,
        b'{"message": "not a list"}',
    )
    with pytest.raises(ForgeError, match="expected a list of comments"):
        client.comments_since(REPO, "2024-01-01T00:00:00Z")
    forge.answer_next(
        "GET",
        "/api/v1/repos/coop-cloud/custom-html-tiny/issues/1/timeline",
        1,
        200,
        b'[{"type": "pull_push", "body": "not json", "created_at": "x"}]',
    )
    with pytest.raises(ForgeError, match="expected a pull_push event"):
        client.pushes("coop-cloud", "custom-html-tiny", 1)


def test_a_comment_created_without_an_id_in_the_answer_does_not_hang_the_job(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    # The forge creates the accept comment but answers 201 without an id, and the same for the
    # "running" edit's fallback create: the job must still run and be reported, once.
    forge.answer_next("POST", CREATE, 2, 201, b"{}", handle_first=True)
    bridge = start_bridge()

    bridge.comment("!testme")

    job = wait_until(lambda: [j for j in bridge.jobs() if j.reported], what="run reported")[0]
    assert (job.state, job.verdict) == ("finished", "pass")
    assert len(fake_runs.invocations()) == 1
    base = bridge.url.rsplit("/", 1)[0]
    assert queue_counts(httpx.get(f"{base}/healthz").json()) == {"ok": True, "queued": 0, "running": 0}
    comments = forge.bot_comments(REPO, 1)
    assert len(comments) == 1 and "passed" in comments[0]["body"]  # found again, not duplicated
    assert forge.statuses_for(HEAD)[-1]["state"] == "success"


def test_a_job_whose_handling_breaks_ends_as_error_with_the_reason(
    start_bridge: StartBridge,
    fake_runs: FakeRuns,
    forge: StandinForge,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bridge = start_bridge()

    def broken(job_id: int) -> bool:
        raise KeyError("id")  # what an unvalidated forge answer used to raise

    monkeypatch.setattr(bridge.bridge.reporter, "sync", broken)
    bridge.comment("!testme")

    job = wait_until(lambda: bridge.jobs("finished"), what="job ended")[0]
    assert job.verdict == "error"
    assert "could not handle this run" in (job.summary or "")
    assert "KeyError" in (job.detail or "")  # the reason, for the operator (run page, log)
    assert bridge.jobs("running") == []


def test_a_forks_pull_carries_the_head_repositorys_clone_url(
    forge: StandinForge, client: ForgeClient
) -> None:
    forge.add_pull(REPO, 5, HEAD, fork="alice/custom-html-tiny")
    forge.add_pull(REPO, 6, HEAD)
    assert pull(client, 5).head_repo == f"{forge.url}/alice/custom-html-tiny.git"
    assert pull(client, 6).head_repo is None  # the base's own branch


def test_a_pull_whose_fork_was_deleted_has_no_head_repository(
    forge: StandinForge, client: ForgeClient
) -> None:
    forge.add_pull(REPO, 5, HEAD, fork="alice/custom-html-tiny")
    forge.pulls[(REPO.lower(), 5)]["head"]["repo"] = None  # Gitea answers null once the fork is gone
    found = pull(client, 5)
    assert (found.head_sha, found.head_repo) == (HEAD, None)
