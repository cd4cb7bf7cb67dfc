"""The dashboard's pages, files, badges and the reach proxy, over hand-made run dirs (no browser:
tests/e2e/test_dashboard_browser.py drives Chromium against real run dirs)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest
from starlette.testclient import TestClient

from runner.dashboard.badge import badge_entry, badge_svg
from runner.dashboard.catalog import RunEntry, RunsDirCatalog, level_changes
from runner.dashboard.pages import serve_app, wants_html
from runner.dashboard.runview import failures_from_junit
from runner.pictures.reachproxy import reach_proxy

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
EVIL = "<script>alert('x')</script>"
JUNIT = f"""<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="custom.test_x" name="test_evil"><failure message="assert {EVIL.replace('<', '&lt;')}">E   {EVIL.replace('<', '&lt;')}</failure></testcase>
<testcase classname="custom.test_x" name="test_fine"/></testsuite></testsuites>"""


def make_run(runs: Path, run_id: str, recipe: str = "demo", verdict: str = "pass", level: int = 1,
             pr: int | None = None, mtime: float | None = None) -> Path:
    run = runs / run_id
    (run / "logs").mkdir(parents=True)
    (run / "logs" / "run.log").write_text("    0.1s install tier: pass\n")
    (run / "backups").mkdir()
    (run / "backups" / "restic-password").write_text("hunter2-restic")
    (run / "app.env").write_text("SECRET=nope\n")
    (run / "junit-custom.xml").write_text(JUNIT)
    results = {"run_id": run_id, "recipe": recipe, "verdict": verdict, "level": level, "exit_code": 0,
               "pr": pr, "ref": None, "stages": ["install", "custom"], "duration_s": 12.5,
               "tiers": [{"op": "install", "verdict": "pass", "counts": {"passed": 3}, "duration_s": 0.3},
                         {"op": "custom", "verdict": verdict, "counts": {"failed": 1}, "duration_s": 0.4,
                          "error": None}],
               "ladder": [{"level": 1, "name": "install", "state": "pass", "climbed": True, "reason": None}],
               "op_durations": {"install": 3.0, "custom": 0.0},
               "op_timeline": {"install": {"started_s": 0.5, "duration_s": 3.0, "docker_wait_s": 2.5}}}
    (run / "results.json").write_text(json.dumps(results))
    if mtime is not None:
        os.utime(run / "results.json", (mtime, mtime))
    return run


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    folder = tmp_path / "runs"
    make_run(folder, "20260101-000000-aaaaaa", mtime=1_000_000)
    make_run(folder, "20260102-000000-bbbbbb", verdict="fail", level=3, mtime=2_000_000)
    make_run(folder, "20260103-000000-cccccc", recipe=EVIL, pr=7, mtime=3_000_000)
    return folder


@pytest.fixture
def client(runs: Path) -> TestClient:
    return TestClient(serve_app(RunsDirCatalog(runs)))


def test_every_page_escapes_recipe_names_and_test_output(client: TestClient) -> None:
    for path in ("/", "/runs", "/runs/20260103-000000-cccccc", "/runs/20260102-000000-bbbbbb",
                 "/recipes/demo"):
        page = client.get(path, headers={"Accept": BROWSER_ACCEPT})
        assert page.status_code == 200, path
        assert "<script>alert" not in page.text, path
    run = client.get("/runs/20260102-000000-bbbbbb").text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in run  # shown, as text


def test_pages_forbid_inline_scripts_so_escaped_text_could_never_run(client: TestClient) -> None:
    policy = client.get("/").headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy


def test_the_run_page_shows_failures_timeline_and_the_files_it_may_serve(client: TestClient) -> None:
    page = client.get("/runs/20260102-000000-bbbbbb").text
    assert "custom.test_x::test_evil" in page and "test_fine" not in page
    assert "+0.5s" in page and "2.5s" in page  # when install started, how long it waited on docker
    assert "/files/logs/run.log" in page and "/files/junit-custom.xml" in page
    assert "restic-password" not in page and "app.env" not in page


@pytest.mark.parametrize("name", ["backups/restic-password", "app.env", "../app.env", "logs/../app.env",
                                  "op_state.json", "recipe/.git/config"])
def test_files_outside_the_list_are_never_served(client: TestClient, name: str) -> None:
    answer = client.get(f"/runs/20260101-000000-aaaaaa/files/{name}")
    assert answer.status_code == 404
    assert "hunter2" not in answer.text and "SECRET=" not in answer.text


def test_listed_files_are_served_as_text_never_as_markup(client: TestClient) -> None:
    answer = client.get("/runs/20260101-000000-aaaaaa/files/junit-custom.xml")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_the_index_lists_each_recipes_latest_run_and_the_recipe_page_its_level_changes(client: TestClient) -> None:
    index = client.get("/").text
    assert "20260102-000000-bbbbbb" in index and "20260101-000000-aaaaaa" not in index
    recipe = client.get("/recipes/demo").text
    assert "(was L1)" in recipe
    assert client.get("/recipes/nothing-here").status_code == 404


def test_level_changes_are_marked_against_the_previous_finished_run() -> None:
    def entry(run_id: str, level: int) -> RunEntry:
        return RunEntry(run_id, "r", "finished", "pass", level, None, None, None, None, None, None)
    history = [entry("c", 4), entry("b", 4), entry("a", 1)]  # newest first
    assert level_changes(history) == {"b": (1, 4)}


@pytest.mark.parametrize("verdict", ["pass", "fail", "error", None])
def test_the_badge_is_valid_svg_for_every_verdict_and_unknown(verdict: str | None) -> None:
    entry = None if verdict is None else RunEntry("x", "r", "finished", verdict, 2, None, None, None,
                                                  None, None, None)
    root = ElementTree.fromstring(badge_svg(entry).encode())
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert (f"L2 {verdict}" if verdict else "unknown") in texts


def test_the_badge_follows_the_default_branch_not_prs_and_is_cacheable(client: TestClient) -> None:
    answer = client.get("/badge/demo.svg")
    assert answer.headers["content-type"].startswith("image/svg+xml")
    assert "max-age=" in answer.headers["cache-control"]
    assert "L3 fail" in answer.text  # the newest default-branch run of demo
    unknown = client.get("/badge/no-such-recipe.svg")
    assert unknown.status_code == 200 and "unknown" in unknown.text and "#9f9f9f" in unknown.text
    pr_only = RunEntry("x", "p", "finished", "pass", 4, None, None, None, 7, "abc", None)
    assert badge_entry([pr_only], "p") is None


@pytest.mark.parametrize(("accept", "html"), [
    (BROWSER_ACCEPT, True), ("*/*", False), (None, False), ("application/json", False),
    ("application/json, text/html;q=0.5", False), ("text/html", True)])
def test_browsers_get_the_page_and_api_clients_json(accept: str | None, html: bool) -> None:
    assert wants_html(accept) is html


def test_junit_failures_keep_pytests_message_and_report() -> None:
    (failure,) = failures_from_junit("custom", JUNIT)
    assert failure.test == "custom.test_x::test_evil" and failure.message.startswith("assert <script>")


def test_the_reach_proxy_sends_the_apps_domain_through_the_client_and_refuses_others() -> None:
    seen: list[httpx.Request] = []

    def app(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="hello from the app")

    client = httpx.Client(base_url="http://10.0.0.9:80", transport=httpx.MockTransport(app))
    with reach_proxy(client, "demo.ccci.test") as proxy, httpx.Client(proxy=proxy) as browser:
        assert browser.get("http://demo.ccci.test/a?b=1").text == "hello from the app"
        assert browser.get("http://elsewhere.example/").status_code == 403
    assert [(r.url.path, r.url.query, r.headers["host"]) for r in seen] == [("/a", b"b=1", "demo.ccci.test")]


def test_a_run_that_just_started_is_followed_through_its_own_stages_not_every_op(tmp_path: Path) -> None:
    """Before its first op has run, a run has only run.json and its log: the page must follow the
    stages it was asked for (an install run shows `install`, never a `lint` it will not run)."""
    import fcntl

    from runner.dashboard.catalog import entry_from_run_dir
    from runner.run.progress import read_progress

    run_dir = tmp_path / "20261201-000000-abcdef"
    (run_dir / "logs").mkdir(parents=True)
    (run_dir / "logs" / "run.log").write_text("   0.0s cloning demo from /x\n   0.1s deploying 1.0 as demo-1.t\n")
    (run_dir / "run.json").write_text(json.dumps({"driver": "swarm", "stages": ["install", "upgrade"]}))
    with (run_dir / "run.lock").open("w") as lock:  # the run is alive: it holds its lock
        fcntl.flock(lock, fcntl.LOCK_EX)
        entry = entry_from_run_dir(run_dir)
        assert entry is not None and entry.state == "running" and entry.stages == ("install", "upgrade")
        assert read_progress(run_dir, entry.stages).tier == "install"
