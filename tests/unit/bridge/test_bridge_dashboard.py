"""The bridge serves the dashboard: browsers get pages, API clients keep their JSON."""

from __future__ import annotations

import httpx

from tests.unit.bridge.bridge_standins import StandinForge
from tests.unit.bridge.support import REPO, FakeRuns, StartBridge, wait_until

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_runs_answer_json_by_default_and_the_page_to_browsers(
    start_bridge: StartBridge, fake_runs: FakeRuns
) -> None:
    bridge = start_bridge()
    base = bridge.url.rsplit("/", 1)[0]
    bridge.comment("!testme")
    (job,) = wait_until(lambda: [j for j in bridge.jobs() if j.state == "finished"], what="run finished")
    as_api = httpx.get(f"{base}/runs/{job.run_id}")
    assert as_api.headers["content-type"].startswith("application/json")
    assert as_api.json()["run_id"] == job.run_id and as_api.headers["vary"] == "Accept"
    as_browser = httpx.get(f"{base}/runs/{job.run_id}", headers=BROWSER)
    assert as_browser.headers["content-type"].startswith("text/html") and job.run_id in as_browser.text
    assert httpx.get(f"{base}/runs").headers["content-type"].startswith("application/json")
    assert "<table>" in httpx.get(f"{base}/runs", headers=BROWSER).text
    index = httpx.get(f"{base}/")
    assert index.status_code == 200 and f"/runs/{job.run_id}" in index.text
    assert httpx.get(f"{base}/recipes/{job.recipe}").status_code == 200
    assert httpx.get(f"{base}/badge/{job.recipe}.svg").headers["content-type"].startswith("image/svg+xml")


def test_the_finished_comment_shows_the_summary_card_the_bridge_serves(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    bridge = start_bridge(executor={"env": {"FAKE_RUN_CARD": "made"}})
    base = bridge.url.rsplit("/", 1)[0]
    bridge.comment("!testme")
    (job,) = wait_until(lambda: [j for j in bridge.jobs() if j.reported], what="run reported")
    card_url = f"{base}/runs/{job.run_id}/files/card.png"
    body = forge.bot_comments(REPO, 1)[0]["body"]
    assert f"[![summary card]({card_url})]({base}/runs/{job.run_id})" in body  # Gitea renders it
    card = httpx.get(card_url)
    assert card.status_code == 200 and card.headers["content-type"] == "image/png"
    assert card.content.startswith(b"\x89PNG")


def test_a_card_still_being_made_is_shown_already(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    bridge = start_bridge(executor={"env": {"FAKE_RUN_CARD": "making"}})
    bridge.comment("!testme")
    (job,) = wait_until(lambda: [j for j in bridge.jobs() if j.reported], what="run reported")
    assert "[![summary card](http://127.0.0.1:" in forge.bot_comments(REPO, 1)[0]["body"]
    assert f"/runs/{job.run_id}/files/card.png)" in forge.bot_comments(REPO, 1)[0]["body"]


def test_a_run_without_a_card_has_no_image_in_its_comment(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    bridge = start_bridge()
    bridge.comment("!testme")
    wait_until(lambda: [j for j in bridge.jobs() if j.reported], what="run reported")
    assert "summary card" not in forge.bot_comments(REPO, 1)[0]["body"]
