"""The webhook path end to end: forge delivery -> bridge -> queue and report, against a stand-in forge."""

from __future__ import annotations

import json

import httpx

from runner.ops import LIFECYCLE
from tests.unit.bridge.bridge_standins import StandinForge, sign
from tests.unit.bridge.support import (
    HEAD,
    MEMBER,
    ORG,
    REPO,
    FakeRuns,
    StartBridge,
    queue_counts,
    wait_until,
)


def test_member_testme_queues_one_run_with_comment_and_pending_status(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    fake_runs.hold()  # keep the run busy so the "queued/running" report is what we see
    bridge = start_bridge()

    response = bridge.comment("!testme")

    assert response.status_code == 202
    outcomes = bridge.settle()
    assert list(outcomes.values())[0].startswith("queued: ")
    jobs = bridge.jobs()
    assert len(jobs) == 1
    job = jobs[0]
    assert (job.repo, job.pr, job.head_sha, job.stages, job.requested_by) == (
        REPO,
        1,
        HEAD,
        LIFECYCLE.default_stages,  # what a hand run runs
        MEMBER,
    )
    # membership was checked against the forge, not trusted from the payload
    assert forge.calls_to("GET", f"/orgs/{ORG}/members/{MEMBER}")
    comments = wait_until(lambda: forge.bot_comments(REPO, 1), what="accept comment")
    assert len(comments) == 1
    assert job.run_id in comments[0]["body"]
    assert f"/runs/{job.run_id}" in comments[0]["body"]  # where to follow it
    pending = wait_until(lambda: forge.statuses_for(HEAD), what="pending status")
    assert pending[0]["state"] == "pending"
    assert pending[0]["context"] == "cc-ci/lint,install,idempotent"  # one context per stage set
    assert pending[0]["target_url"].endswith(f"/runs/{job.run_id}")
    wait_until(lambda: len(fake_runs.invocations()) == 1, what="run started")
    invocation = {
        k: v for k, v in fake_runs.invocations()[0].items() if k not in ("pid", "leaked_env", "at")
    }
    assert invocation == {
        "RECIPE": "custom-html-tiny",
        "REF": HEAD,
        "PR": "1",
        "STAGES": "lint,install,idempotent",
        "CCCI_RUN_ID": job.run_id,
        "CCCI_RUNS_DIR": str(fake_runs.runs_dir),
    }


def test_finished_run_edits_the_same_comment_with_verdict_and_sets_final_status(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    bridge = start_bridge()

    bridge.comment("!testme stages=install,upgrade")

    job = wait_until(
        lambda: [j for j in bridge.jobs() if j.state == "finished" and j.reported],
        what="run reported",
    )[0]
    assert job.verdict == "pass"
    assert job.stages == ("install", "upgrade")
    comments = forge.bot_comments(REPO, 1)
    assert len(comments) == 1, "the accept comment is edited, not a new one posted"
    body = comments[0]["body"]
    assert "passed" in body and job.run_id in body
    assert "## fake run of custom-html-tiny" in body  # the run's summary.md
    assert forge.calls_to("PATCH", f"/issues/comments/{comments[0]['id']}")
    states = [s["state"] for s in forge.statuses_for(HEAD)]
    assert states[0] == "pending" and states[-1] == "success"
    assert forge.statuses_for(HEAD)[-1]["target_url"].endswith(f"/runs/{job.run_id}")


def test_failed_run_sets_failure_status(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    bridge = start_bridge(executor={"env": {"FAKE_RUN_VERDICT": "fail"}})
    bridge.comment("!testme")
    wait_until(lambda: [j for j in bridge.jobs() if j.reported], what="run reported")
    assert forge.statuses_for(HEAD)[-1]["state"] == "failure"
    assert "failed" in forge.bot_comments(REPO, 1)[0]["body"]


def test_run_without_results_is_reported_as_error(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    bridge = start_bridge(executor={"env": {"FAKE_RUN_NO_RESULTS": "1"}})
    bridge.comment("!testme")
    job = wait_until(lambda: [j for j in bridge.jobs() if j.reported], what="run reported")[0]
    assert job.verdict == "error"
    assert forge.statuses_for(HEAD)[-1]["state"] == "error"


def test_bad_signature_is_401_and_queues_nothing(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    bridge = start_bridge()
    payload = forge.webhook_payload(forge.user_comment(REPO, 1, MEMBER, "!testme"))

    wrong = bridge.deliver(payload, secret="not-the-secret")
    missing = bridge.deliver(payload, headers={"X-Gitea-Signature": ""})

    assert (wrong.status_code, missing.status_code) == (401, 401)
    assert bridge.bridge.store.inbox_outcomes() == {}
    assert bridge.jobs() == []
    assert forge.calls == []


def test_github_style_sha256_signature_header_is_accepted(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    bridge = start_bridge()
    body = json.dumps(
        forge.webhook_payload(forge.user_comment(REPO, 1, MEMBER, "!testme"))
    ).encode()
    response = bridge.deliver(
        body,
        headers={
            "X-Gitea-Signature": "",
            "X-Hub-Signature-256": "sha256=" + sign("whsec-SENTINEL-7f3a9c", body),
        },
    )
    assert response.status_code == 202


def test_non_member_gets_no_run(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    bridge = start_bridge()
    bridge.comment("!testme", login="mallory")
    outcomes = bridge.settle()
    assert list(outcomes.values()) == ["denied: not authorised"]
    assert bridge.jobs() == []
    assert forge.bot_comments(REPO, 1) == []  # the "not authorised" reply is off by default


def test_membership_the_bot_cannot_see_counts_as_not_a_member(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    forge.membership_visible = False  # the bot is not in the org: Gitea answers 303
    bridge = start_bridge()
    bridge.comment("!testme")
    assert list(bridge.settle().values()) == ["denied: not authorised"]
    assert bridge.jobs() == []
    assert forge.calls_to("GET", f"/orgs/{ORG}/members/{MEMBER}")
    assert not forge.calls_to("GET", "/public_members/")  # the redirect is not followed


def test_non_member_gets_a_short_reply_when_configured(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    bridge = start_bridge(reply_to_unauthorised=True)
    bridge.comment("!testme", login="mallory")
    bridge.settle()
    assert bridge.jobs() == []
    replies = wait_until(lambda: forge.bot_comments(REPO, 1), what="reply")
    assert "@mallory may not start runs" in replies[0]["body"]


def test_allowlisted_outsider_may_trigger(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    fake_runs.hold()
    bridge = start_bridge()
    bridge.comment("!testme", login="Trusted-Outsider")
    bridge.settle()
    assert len(bridge.jobs()) == 1
    assert not forge.calls_to("GET", "/members/")  # the allowlist needs no API call


def test_duplicate_delivery_of_one_comment_starts_one_run(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    fake_runs.hold()
    bridge = start_bridge()
    payload = forge.webhook_payload(forge.user_comment(REPO, 1, MEMBER, "!testme"))

    first = bridge.deliver(payload)
    again = bridge.deliver(payload)  # the forge retries a delivery it thinks failed

    assert (first.status_code, first.json()["result"]) == (202, "accepted")
    assert (again.status_code, again.json()["result"]) == (200, "duplicate")
    bridge.settle()
    assert len(bridge.jobs()) == 1
    wait_until(lambda: fake_runs.invocations(), what="run start")
    assert len(fake_runs.invocations()) == 1


def test_second_testme_for_the_same_head_while_queued_coalesces(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    fake_runs.hold()
    forge.add_pull(REPO, 2, "2" * 40)
    bridge = start_bridge()
    bridge.comment("!testme", number=2)  # occupies the single slot
    wait_until(lambda: fake_runs.invocations(), what="first run to start")

    bridge.comment("!testme")  # PR 1: queued behind it
    bridge.comment("!testme")  # PR 1 again, same head: coalesces
    outcomes = sorted(bridge.settle().values())

    assert [o.split(":")[0] for o in outcomes] == ["coalesced", "queued", "queued"]
    assert len(bridge.jobs()) == 2
    replies = wait_until(
        lambda: [c["body"] for c in forge.bot_comments(REPO, 1) if "already" in c["body"]],
        what="reply",
    )
    assert len(replies) == 1 and "already queued as run" in replies[0]


def test_different_stages_for_the_same_head_are_separate_runs(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    fake_runs.hold()
    forge.add_pull(REPO, 2, "2" * 40)
    bridge = start_bridge()
    bridge.comment("!testme", number=2)
    wait_until(lambda: fake_runs.invocations(), what="first run to start")
    bridge.comment("!testme")
    bridge.comment("!testme stages=upgrade,install")
    bridge.comment("!testme stages=upgrade")  # the same set as the harness runs it: joins
    bridge.settle()
    assert sorted(j.stages for j in bridge.jobs() if j.pr == 1) == [
        ("install", "upgrade"),
        ("lint", "install", "idempotent"),
    ]


def test_comments_that_must_not_trigger(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    forge.add_pull(REPO, 3, "3" * 40, state="closed")
    forge.add_pull(REPO, 4, "4" * 40, state="closed", merged=True)
    forge.add_pull("someone/else", 1, "5" * 40)
    bridge = start_bridge()

    unknown_repo = bridge.comment("!testme", repo="someone/else")
    issue = bridge.comment("!testme", number=7)  # #7 is an issue, not a PR
    lookalike = bridge.comment("!testmexyz")
    later_line = bridge.comment("looks good\n!testme")
    closed = bridge.comment("!testme", number=3)
    merged = bridge.comment("!testme", number=4)

    assert unknown_repo.json()["result"] == "ignored: repository not enrolled"
    assert issue.json()["result"] == "ignored: not a pull request"
    assert lookalike.json()["result"] == "ignored: not a !testme comment"
    assert later_line.json()["result"] == "ignored: not a !testme comment"
    assert closed.status_code == merged.status_code == 202
    outcomes = bridge.settle()
    assert sorted(outcomes.values()) == ["ignored: pull request is not open"] * 2
    assert bridge.jobs() == []
    assert fake_runs.invocations() == []
    assert forge.calls_to("POST", "/comments") == []
    assert forge.calls_to("POST", "/statuses/") == []


def test_payload_claiming_a_pr_is_checked_against_the_forge(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    """A signed payload saying is_pull for an issue number still does not run: the forge says 404."""
    bridge = start_bridge()
    comment = forge.user_comment(REPO, 9, MEMBER, "!testme")
    payload = forge.webhook_payload(comment) | {"is_pull": True}
    assert bridge.deliver(payload).status_code == 202
    assert list(bridge.settle().values()) == ["ignored: not a pull request"]
    assert bridge.jobs() == []


def test_unknown_option_gets_one_grammar_reply_and_no_run(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    bridge = start_bridge()
    bridge.comment("!testme foo")
    bridge.comment("!testme stages=install,deploy")
    outcomes = sorted(bridge.settle().values())
    assert outcomes == [
        "malformed: `foo` is not an option (options look like key=value)",
        "malformed: unknown stage `deploy`",
    ]
    assert bridge.jobs() == []
    replies = wait_until(
        lambda: (
            len(forge.bot_comments(REPO, 1)) == 2
            and [c["body"] for c in forge.bot_comments(REPO, 1)]
        ),
        what="replies",
    )
    assert all("usage: `!testme`" in body for body in replies)


def test_a_stage_outside_the_configured_stages_gets_a_reply_and_no_run(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    bridge = start_bridge(stages=["install"])
    bridge.comment("!testme stages=install,upgrade")
    assert list(bridge.settle().values()) == [
        "malformed: stage `upgrade` is not available on this cc-ci (available: install)"
    ]
    assert bridge.jobs() == [] and fake_runs.invocations() == []
    reply = wait_until(lambda: forge.bot_comments(REPO, 1), what="reply")
    assert len(reply) == 1 and "stage `upgrade` is not available on this cc-ci" in reply[0]["body"]


def test_oversized_body_is_413_and_non_json_is_400(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    bridge = start_bridge()
    huge = b'{"pad": "' + b"x" * (65 * 1024) + b'"}'
    assert bridge.deliver(huge).status_code == 413
    # Without Content-Length (chunked), the cap is enforced while reading.
    chunks = (huge[i : i + 4096] for i in range(0, len(huge), 4096))
    chunked = httpx.post(bridge.url, content=chunks, headers={"X-Gitea-Event": "issue_comment"})
    assert "content-length" not in chunked.request.headers
    assert chunked.status_code == 413
    assert bridge.deliver(b"this is not json").status_code == 400
    assert (
        bridge.deliver(b'{"action": "created"}').status_code == 400
    )  # JSON, but not a comment event
    assert bridge.jobs() == [] and bridge.bridge.store.inbox_outcomes() == {}


def test_other_events_are_acknowledged_and_ignored(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    bridge = start_bridge()
    response = bridge.deliver({"ref": "refs/heads/main"}, event="push")
    assert response.status_code == 200
    assert response.json()["result"] == "ignored: event push"


def test_run_status_page_and_health(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    bridge = start_bridge()
    bridge.comment("!testme")
    job = wait_until(lambda: [j for j in bridge.jobs() if j.reported], what="run reported")[0]
    base = bridge.url.rsplit("/", 1)[0]
    page = httpx.get(f"{base}/runs/{job.run_id}").json()
    assert (page["state"], page["verdict"], page["head_sha"]) == ("finished", "pass", HEAD)
    assert httpx.get(f"{base}/runs/nope-nope").status_code == 404
    assert queue_counts(httpx.get(f"{base}/healthz").json()) == {"ok": True, "queued": 0, "running": 0}


def test_every_malformed_signed_body_is_a_400_with_a_one_line_reason(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    bridge = start_bridge(webhook={"max_body_bytes": 256 * 1024})
    comment = forge.webhook_payload(forge.user_comment(REPO, 1, MEMBER, "!testme"))
    nested_in_payload = (
        json.dumps(comment | {"extra": "@"}).encode().replace(b'"@"', b"[" * 50_000 + b"]" * 50_000)
    )
    bodies = {
        "deep list": b"[" * 100_000 + b"]" * 100_000,
        "deep object": b'{"a":' * 40_000 + b"1" + b"}" * 40_000,
        "deep inside a real payload": nested_in_payload,
        "not UTF-8": b'{"action": "\xff\xfe"}',
        "empty": b"",
        "truncated": b'{"action": "created", "comment": {',
        "null": b"null",
        "a list": b"[1, 2]",
        "wrong types": json.dumps(comment | {"comment": {"id": "x", "user": {}}}).encode(),
    }
    for what, body in bodies.items():
        response = bridge.deliver(body)
        error = response.json().get("error", "")
        assert response.status_code == 400, (what, response.status_code, response.text[:200])
        assert error and "\n" not in error and len(error) < 200, (what, error)
    assert bridge.deliver(comment).status_code == 202  # still serving
    assert len(bridge.bridge.store.inbox_outcomes()) == 1


def test_a_forks_pr_runs_with_the_forks_clone_url_and_remembers_it(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    forge.add_pull(REPO, 9, "9" * 40, fork="alice/custom-html-tiny")
    bridge = start_bridge()
    assert bridge.comment("!testme", number=9).status_code == 202
    bridge.settle()
    (job,) = bridge.jobs()
    assert job.head_repo == f"{forge.url}/alice/custom-html-tiny.git"
    invocation = wait_until(lambda: fake_runs.invocations(), what="run started")[0]
    assert (invocation["PR"], invocation["REF"], invocation["PR_HEAD_REPO"]) == ("9", "9" * 40, job.head_repo)
