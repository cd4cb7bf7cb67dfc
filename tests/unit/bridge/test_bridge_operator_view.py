"""The operator's view: /healthz, /runs, /runs/<id>, /metrics, statuses, log lines, and the
messages an operator or a maintainer meets when something is set up or typed wrong."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from runner.bridge.config import load_config
from runner.bridge.logs import JsonLines
from runner.bridge.reports import Reporter
from runner.bridge.store import Job
from runner.errors import BadInput
from runner.run.progress import progress_from_log
from tests.unit.bridge.bridge_standins import StandinForge
from tests.unit.bridge.support import (
    FORGE_TOKEN,
    HEAD,
    LOCAL_TLS,
    MEMBER,
    REPO,
    WEBHOOK_SECRET,
    BridgeProcess,
    FakeRuns,
    RunningBridge,
    StartBridge,
    config_data,
    free_port,
    wait_until,
)


def base_of(bridge: RunningBridge) -> str:
    return bridge.url.rsplit("/", 1)[0]


def reported(bridge: RunningBridge, count: int = 1) -> list[Job]:
    return wait_until(
        lambda: len(done := [j for j in bridge.jobs() if j.reported]) >= count and done,
        what=f"{count} run(s) reported",
    )


# /healthz


def test_healthz_has_version_counts_outbox_and_the_last_forge_error_with_its_age(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    bridge = start_bridge()
    health = httpx.get(f"{base_of(bridge)}/healthz").json()
    assert health["ok"] is True and health["version"] == "0.1.0"
    assert (health["queued"], health["running"]) == (0, 0)
    assert health["outbox"] == {"pending": 0, "failed": 0}
    assert health["last_forge_error"] is None

    forge.fail_next("POST", "/api/v1/repos/", times=100)  # statuses and comments fail for good
    fake_runs.hold()
    bridge.comment("!testme")
    wait_until(
        lambda: httpx.get(f"{base_of(bridge)}/healthz", verify=LOCAL_TLS).json()["last_forge_error"],
        what="a forge error",
    )
    health = httpx.get(f"{base_of(bridge)}/healthz").json()
    error = health["last_forge_error"]
    assert "HTTP 503" in error["message"] and error["at"].endswith("Z")
    assert 0 <= error["age_seconds"] < 30
    assert health["outbox"]["pending"] >= 1  # the reply that did not land waits in the outbox
    assert FORGE_TOKEN not in json.dumps(health)


# /runs/<id> and /runs


def test_run_page_has_times_requester_exit_code_and_the_tier_in_progress(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    fake_runs.hold()
    bridge = start_bridge()
    bridge.comment("!testme stages=install,upgrade")
    job = wait_until(lambda: bridge.jobs("running"), what="run started")[0]
    url = f"{base_of(bridge)}/runs/{job.run_id}"

    running = wait_until(
        lambda: (page := httpx.get(url, verify=LOCAL_TLS).json())["progress"]
        and page["progress"]["tiers"]
        and page,
        what="progress in the run log",
    )
    assert running["state"] == "running" and running["requested_by"] == MEMBER
    assert running["progress"]["tier"] == "upgrade"
    assert running["progress"]["tiers"] == {"install": "pass"}
    assert running["queued_at"].endswith("Z") and running["started_at"].endswith("Z")
    assert running["finished_at"] is None and running["exit_code"] is None
    assert httpx.get(url).headers["vary"] == "Accept"

    fake_runs.release()
    reported(bridge)
    done = httpx.get(url).json()
    assert (done["state"], done["verdict"], done["exit_code"]) == ("finished", "pass", 0)
    assert done["finished_at"] >= done["started_at"] >= done["queued_at"]
    assert done["progress"] is None
    assert httpx.get(f"{base_of(bridge)}/runs/nope-nope").status_code == 404


def test_progress_is_read_from_the_orchestrators_run_log() -> None:
    log = (
        "    0.0s cloning custom-html-tiny from /somewhere\n"
        "    3.3s install tier: test_install.py, custom-html-tiny/test_install.py\n"
        "    3.7s install tier: pass\n"
        "    3.7s upgrade: pre_upgrade hook\n"
        "   13.8s waiting for convergence (110s left): app 0/1\n"
    )
    stages = ("install", "upgrade", "backup")
    assert progress_from_log("", stages).phase == "starting"
    now = progress_from_log(log, stages)
    assert (now.phase, now.tier, now.tiers) == ("tier", "upgrade", {"install": "pass"})
    assert now.last_line == "waiting for convergence (110s left): app 0/1"
    skipped = progress_from_log(log + "   20.0s upgrade tier: fail\n   20.1s backup: skip — x\n", stages)
    assert skipped.tiers == {"install": "pass", "upgrade": "fail", "backup": "skip"}
    ending = progress_from_log(log + "   30.0s tearing down stack\n", stages)
    assert (ending.phase, ending.tier) == ("teardown", None)


def test_runs_is_a_paginated_list_newest_first(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    bridge = start_bridge()
    for number in (1, 2, 3):
        forge.add_pull(REPO, number, str(number) * 40)
        bridge.comment("!testme", number=number)
        reported(bridge, number)

    first = httpx.get(f"{base_of(bridge)}/runs", params={"per_page": 2}).json()
    assert [run["pr"] for run in first["runs"]] == [3, 2]
    assert (first["total"], first["page"], first["prev"]) == (3, 1, None)
    assert first["next"] == "/runs?page=2&per_page=2"
    second = httpx.get(f"{base_of(bridge)}{first['next']}").json()
    assert [run["pr"] for run in second["runs"]] == [1] and second["next"] is None
    run = second["runs"][0]
    assert run["url"] == f"/runs/{run['run_id']}" and run["requested_by"] == MEMBER
    assert httpx.get(f"{base_of(bridge)}/runs").json()["per_page"] == 20
    for bad in ({"page": "0"}, {"per_page": "1000"}, {"page": "x"}):
        answer = httpx.get(f"{base_of(bridge)}/runs", params=bad)
        assert answer.status_code == 400 and answer.json()["error"]


def test_page_numbers_are_bounded_so_no_page_is_a_server_error(
    start_bridge: StartBridge
) -> None:
    """A page number past what the store can count once raised OverflowError: a 500."""
    bridge = start_bridge()
    for huge in ("9" * 30, str(2**63), "100001"):
        for accept in ("application/json", "text/html"):
            answer = httpx.get(f"{base_of(bridge)}/runs", params={"page": huge}, headers={"Accept": accept})
            assert answer.status_code == 400 and "page must be from 1 to" in answer.text, (huge, accept)
    assert httpx.get(f"{base_of(bridge)}/runs", params={"page": "100000"}).json()["runs"] == []


def test_every_answer_of_the_bridge_forbids_sniffing_and_framing(
    start_bridge: StartBridge
) -> None:
    bridge = start_bridge()
    base = base_of(bridge)
    answers = [httpx.get(f"{base}{path}") for path in ("/healthz", "/runs", "/runs/nope", "/metrics", "/",
                                                        "/badge/x.svg", "/nowhere")]
    answers.append(httpx.post(bridge.url, content=b"{}"))  # the webhook, unsigned: 401
    for answer in answers:
        assert answer.headers["x-content-type-options"] == "nosniff", answer.url
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], answer.url


# /metrics


def scrape(bridge: RunningBridge) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{base_of(bridge)}/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_parse_and_move_with_a_run(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    bridge = start_bridge()
    answer = httpx.get(f"{base_of(bridge)}/metrics")
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    before = scrape(bridge)
    passed = ("ccci_bridge_runs_total", (("state", "finished"), ("verdict", "pass")))
    latency = ("ccci_bridge_comment_to_queued_seconds_count", ())
    queued = ("ccci_bridge_jobs", (("state", "queued"),))
    assert before.get(passed, 0) == 0 and before[latency] == 0 and before[queued] == 0
    assert before[("ccci_bridge_forge_errors_total", ())] == 0

    fake_runs.hold()
    bridge.comment("!testme")
    wait_until(lambda: scrape(bridge)[("ccci_bridge_jobs", (("state", "running"),))] == 1,
               what="running in the metrics")
    fake_runs.release()
    reported(bridge)

    after = scrape(bridge)
    assert after[passed] == 1 and after[latency] == 1
    assert after[("ccci_bridge_jobs", (("state", "running"),))] == 0
    assert after[("ccci_bridge_outbox", (("state", "pending"),))] == 0
    forge.fail_next("GET", "/api/v1/repos/", times=3)  # the client's 3 attempts
    with pytest.raises(Exception, match="HTTP 503"):
        bridge.bridge.forge.get_pull("coop-cloud", "custom-html-tiny", 1)
    assert scrape(bridge)[("ccci_bridge_forge_errors_total", ())] == 1


# statuses


def test_each_stage_set_has_its_own_status_context(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    bridge = start_bridge()
    bridge.comment("!testme")
    reported(bridge, 1)
    bridge.comment("!testme stages=install,upgrade")
    reported(bridge, 2)
    bridge.comment("!testme stages=upgrade")  # the same stage set: upgrade brings in install
    reported(bridge, 3)

    final = {s["context"]: s["state"] for s in forge.statuses_for(HEAD)}
    assert final == {"cc-ci/lint,install,idempotent": "success", "cc-ci/install,upgrade": "success"}


def test_a_sync_with_nothing_new_posts_no_second_status_or_edit(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    fake_runs.hold()
    bridge = start_bridge()
    bridge.comment("!testme")
    job = wait_until(lambda: bridge.jobs("running"), what="run started")[0]
    # the bridge's own report of the running job (comment edit, then status) is under way in its
    # threads: the snapshot is taken once it landed, not after the queued one
    wait_until(lambda: [s for s in forge.statuses_for(HEAD) if s["description"].endswith(" running")],
               what="the running status")
    reporter: Reporter = bridge.bridge.reporter
    posted = len(forge.statuses_for(HEAD))
    edits = len(forge.calls_to("PATCH"))

    assert reporter.sync(job.id) and reporter.sync(job.id)  # e.g. the outbox after the dispatcher

    assert len(forge.statuses_for(HEAD)) == posted and len(forge.calls_to("PATCH")) == edits
    runs = [(s["state"], s["description"]) for s in forge.statuses_for(HEAD)]
    assert len(runs) == len(set(runs)), f"a status was posted twice: {runs}"


# a job that cannot start


def test_a_job_that_cannot_start_gets_a_reply_without_host_paths(
    start_bridge: StartBridge,
    fake_runs: FakeRuns,
    forge: StandinForge,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="cc-ci.bridge")
    missing = tmp_path / "secret-place" / "bin" / "python"
    bridge = start_bridge(executor={"command": [str(missing), "-m", "runner.run_recipe_ci"]})
    bridge.comment("!testme")

    job = reported(bridge)[0]

    body = forge.bot_comments(REPO, 1)[0]["body"]
    assert job.verdict == "error" and "could not run this job" in body
    assert str(tmp_path) not in body and "secret-place" not in body
    # the run page is not authenticated: a fixed sentence there, the reason in the bridge's log
    page = httpx.get(f"{base_of(bridge)}/runs/{job.run_id}")
    html = httpx.get(f"{base_of(bridge)}/runs/{job.run_id}", headers={"Accept": "text/html"})
    for text in (page.text, html.text):
        assert str(tmp_path) not in text and "secret-place" not in text and "Error" not in text
    assert "its operator finds why in the bridge's log" in page.json()["detail"]
    assert "its operator finds why in the bridge" in html.text
    assert str(missing) in caplog.text


# intake messages


def test_a_rejected_token_is_logged_as_a_bad_token_and_the_comment_kept(
    start_bridge: StartBridge,
    fake_runs: FakeRuns,
    forge: StandinForge,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="cc-ci.bridge")
    bridge = start_bridge()
    forge.token = "the-forge-now-wants-another-token"
    bridge.comment("!testme")

    wait_until(lambda: "rejected the bridge's token" in caplog.text, what="the log line")

    assert "HTTP 401" in caplog.text and "check forge.token" in caplog.text
    assert "giving up" not in caplog.text and "forge unavailable" not in caplog.text
    assert list(bridge.bridge.store.inbox_outcomes().values()) == [None]  # still pending


def test_a_polled_duplicate_is_debug_and_a_webhook_duplicate_is_info(
    start_bridge: StartBridge,
    fake_runs: FakeRuns,
    forge: StandinForge,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_runs.hold()
    bridge = start_bridge()
    comment = forge.user_comment(REPO, 1, MEMBER, "!testme")
    bridge.deliver(forge.webhook_payload(comment))
    caplog.set_level(logging.DEBUG, logger="cc-ci.bridge")

    bridge.bridge.intake.submit(
        bridge.bridge.forge.comments_since(REPO, "2000-01-01T00:00:00Z")[0].event
    )
    bridge.deliver(forge.webhook_payload(comment))

    levels = {r.getMessage().split("(")[-1]: r.levelname for r in caplog.records
              if "duplicate delivery" in r.getMessage()}
    assert levels == {"poll), dropped": "DEBUG", "webhook), dropped": "INFO"}


def test_an_edit_of_a_refused_comment_is_answered_with_post_a_new_comment(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    bridge = start_bridge()
    comment = forge.user_comment(REPO, 1, MEMBER, "!testme foo")
    bridge.deliver(forge.webhook_payload(comment))
    reply = wait_until(lambda: forge.bot_comments(REPO, 1), what="usage reply")[0]["body"]
    assert "new comment" in reply and "edits" in reply

    comment["body"] = "!testme"
    answer = bridge.deliver(forge.webhook_payload(comment, action="edited"))

    assert answer.status_code == 200
    assert "post a new comment" in answer.json()["result"]
    bridge.settle()
    assert bridge.jobs() == []


def test_a_plain_string_secret_says_which_form_is_expected(tmp_path: Path) -> None:
    path = tmp_path / "bridge.yml"
    path.write_text(
        "forge: {url: https://forge.example, token: glpat-actual-value}\n"
        "webhook: {secret: {env: HOOK}}\nrepos: {a/b: b}\n"
    )
    with pytest.raises(BadInput) as caught:
        load_config(path)
    message = str(caught.value)
    assert "forge.token: a secret is given as a reference, not as its value" in message
    assert "{env: VAR_NAME}" in message and "{file: /path/to/file}" in message
    assert "glpat-actual-value" not in message and "SecretRef" not in message


# log lines


def test_json_log_lines_carry_the_message_and_the_traceback() -> None:
    record = logging.LogRecord("cc-ci.bridge", logging.ERROR, __file__, 1, "run %s: %s", ("r1", "x"), None)
    try:
        raise ValueError("boom")
    except ValueError:
        record.exc_info = sys.exc_info()
    entry = json.loads(JsonLines().format(record))
    assert entry["level"] == "ERROR" and entry["message"] == "run r1: x"
    assert "ValueError: boom" in entry["exception"] and entry["time"].endswith("+00:00")


def test_a_bridge_process_logs_json_lines_and_its_bound_address(
    tmp_path: Path, standin_forge: StandinForge, fake_runs: FakeRuns
) -> None:
    port = free_port()
    config = config_data(
        tmp_path, standin_forge.url, fake_runs, webhook={"port": port},
        public_url="https://ci.example.org", log_format="json",
    )
    bridge = BridgeProcess(tmp_path, config)
    try:
        bridge.start()
        bridge.deliver_comment(standin_forge, 1)
        wait_until(lambda: fake_runs.invocations(), what="run started")
    finally:
        bridge.stop()

    entries = [json.loads(line) for line in bridge.log.read_text().splitlines() if line.strip()]
    (start,) = [e["message"] for e in entries if "listening on" in e["message"]]
    assert start.startswith(f"bridge listening on http://127.0.0.1:{port} (webhook /webhook;")
    assert "public URL https://ci.example.org" in start
    assert any("queued" in e["message"] for e in entries)
    text = bridge.log.read_text()
    assert FORGE_TOKEN not in text and WEBHOOK_SECRET not in text
