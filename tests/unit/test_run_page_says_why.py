"""A failed run's page: the error once, at the top, with the logs that say why (convergence, the
deploys); the failed op in the timeline; failed assertions in lifecycle order; upgrade notes; and
the summary card draws a failed rung red, not grey like a skip."""

from __future__ import annotations

import json
from pathlib import Path

from starlette.testclient import TestClient

from runner.dashboard.catalog import RunsDirCatalog
from runner.dashboard.pages import serve_app
from runner.pictures.card import card_html
from tests.unit.test_dashboard import BROWSER_ACCEPT

RUN = "20260105-000000-eeeeee"
ERROR = "upgrade: service app did not converge in 120s: task exited 1: crashed (logs/convergence-app.log)"
SMTP = ("the head adds secret smtp_password (v1, length 48): generate it before upgrading, "
        "e.g. `abra app secret generate <domain> smtp_password v1`")


def _junit(test: str, message: str) -> str:
    return (f'<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">'
            f'<testcase classname="t" name="{test}"><failure message="{message}">E {message}</failure></testcase>'
            f'</testsuite></testsuites>')


def _failed_run(runs: Path) -> Path:
    run = runs / RUN
    (run / "logs").mkdir(parents=True)
    (run / "logs" / "run.log").write_text("    0.1s upgrade: failed\n")
    (run / "logs" / "convergence-app.log").write_text("task exited 1: crashed\n")
    (run / "logs" / "deploy-1.log").write_text("Creating service demo_app\n")
    # alphabetically `custom` < `install`; the lifecycle has install first, the first cause
    (run / "junit-custom.xml").write_text(_junit("test_pages", "page two is missing"))
    (run / "junit-install.xml").write_text(_junit("test_home", "the home page says 502"))
    reason = f"upgrade error — {ERROR}"
    results = {"run_id": RUN, "recipe": "demo", "verdict": "error", "level": 0, "exit_code": 3,
               "stages": ["install", "upgrade", "custom"], "duration_s": 40.0, "error": ERROR, "error_op": "upgrade",
               "tiers": [{"op": "install", "verdict": "fail", "counts": {"failed": 1}, "duration_s": 1.0},
                         {"op": "upgrade", "verdict": "error", "duration_s": 120.0, "error": ERROR},
                         {"op": "custom", "verdict": "fail", "counts": {"failed": 1}, "duration_s": 0.4}],
               "ladder": [{"level": 1, "name": "install", "state": "fail", "climbed": False,
                           "reason": "install fail"},
                          {"level": 2, "name": "upgrade", "state": "error", "climbed": False, "reason": reason}],
               "ladder_stop": "L0 (stopped at L1 install: install fail)",
               "upgrade_notes": [SMTP],
               "op_durations": {"install": 3.0},
               "op_timeline": {"install": {"started_s": 0.5, "duration_s": 3.0, "docker_wait_s": 2.5},
                               "upgrade": {"started_s": 5.0, "duration_s": 120.0, "docker_wait_s": 119.0}}}
    (run / "results.json").write_text(json.dumps(results))
    return run


def _page(tmp_path: Path) -> str:
    _failed_run(tmp_path / "runs")
    client = TestClient(serve_app(RunsDirCatalog(tmp_path / "runs")))
    page = client.get(f"/runs/{RUN}", headers={"Accept": BROWSER_ACCEPT})
    assert page.status_code == 200
    return page.text


def test_the_error_is_told_once_at_the_top_with_the_logs_that_say_why(tmp_path: Path) -> None:
    page = _page(tmp_path)
    assert page.count("did not converge in 120s") == 1
    assert page.index("did not converge in 120s") < page.index("<h2>Tiers</h2>")
    assert "<strong>upgrade</strong> failed:" in page
    why = page[page.index('id="why"'):page.index("</section>")]
    assert f'href="/runs/{RUN}/files/logs/convergence-app.log"' in why
    assert f'href="/runs/{RUN}/files/logs/deploy-1.log"' in why


def test_the_convergence_log_is_served(tmp_path: Path) -> None:
    _failed_run(tmp_path / "runs")
    client = TestClient(serve_app(RunsDirCatalog(tmp_path / "runs")))
    assert client.get(f"/runs/{RUN}/files/logs/convergence-app.log").text == "task exited 1: crashed\n"


def test_the_failed_op_is_in_the_timeline(tmp_path: Path) -> None:
    page = _page(tmp_path)
    timeline = page[page.index("<th>op</th>"):]
    assert '<tr class="error"><td>upgrade · failed</td>' in timeline


def test_failed_assertions_come_in_lifecycle_order(tmp_path: Path) -> None:
    page = _page(tmp_path)
    assert page.index("the home page says 502") < page.index("page two is missing")


def test_the_run_page_lists_the_upgrade_notes(tmp_path: Path) -> None:
    page = _page(tmp_path)
    assert "<h2>Before upgrading</h2>" in page and "abra app secret generate &lt;domain&gt; smtp_password v1" in page


def test_the_card_draws_a_failed_rung_red_not_grey_like_a_skip() -> None:
    results = {"recipe": "demo", "verdict": "fail", "level": 1, "run_id": "r", "tiers": [],
               "ladder": [{"level": 1, "name": "install", "state": "pass", "climbed": True},
                          {"level": 2, "name": "upgrade", "state": "fail", "climbed": False},
                          {"level": 3, "name": "backup+restore", "state": "skip", "climbed": False}]}
    html = card_html(results)
    assert '<div class="rung fail">L2 upgrade' in html and '<div class="rung">L3 backup+restore' in html
    assert ".rung.fail { background: #c62828" in html
