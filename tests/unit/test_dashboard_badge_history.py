"""A recipe's badge follows its latest catalogue result even when the run's dir is not in the
runs dir the page reads (the bridge on Drone, a catalogue run with another runs dir): the
catalogue's history says it; a newer run of the default branch still wins, the history's word on
the same run wins (flaky), and a damaged history leaves the badge to the run dirs."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.testclient import TestClient

from runner.bridge.catalog import BridgeCatalog
from runner.bridge.store import Store
from runner.dashboard.catalog import RunsDirCatalog
from runner.dashboard.pages import Dashboard, serve_app
from tests.unit.test_dashboard import BROWSER_ACCEPT, make_run
from tests.unit.test_dashboard_catalogue import write_history


def _bridge(tmp_path: Path, history: Path, runs_dir: Path | None) -> TestClient:
    store = Store(tmp_path / "bridge.sqlite")
    dashboard = Dashboard(BridgeCatalog(store, runs_dir, ["alpha", "beta", "gamma"]), history=history)
    return TestClient(Starlette(routes=dashboard.routes()))


def _badge(client: TestClient, recipe: str) -> str:
    answer = client.get(f"/badge/{recipe}.svg")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("image/svg+xml")
    return answer.text


def test_the_bridge_badge_shows_a_catalogue_result_run_on_drone(tmp_path: Path) -> None:
    history = tmp_path / "catalogue.sqlite"
    write_history(history, time.time())
    client = _bridge(tmp_path, history, runs_dir=None)  # Drone: no run dir is local
    assert "L3 pass" in _badge(client, "alpha")
    assert "L0 fail" in _badge(client, "beta")
    recipe_page = client.get("/recipes/alpha", headers={"Accept": BROWSER_ACCEPT}).text
    assert "the catalogue's result at c0ffeec0ffee, run elsewhere" in recipe_page


def test_the_history_judges_its_own_run_a_pass_on_retry_is_flaky(tmp_path: Path) -> None:
    history = tmp_path / "catalogue.sqlite"
    write_history(history, time.time())
    runs = tmp_path / "runs"
    retry = make_run(runs, "run-gamm-retry", recipe="gamma", verdict="pass")  # the retry's dir says pass
    results = json.loads((retry / "results.json").read_text()) | {"catalogue": "gamma", "ref": "c0ffee" * 7}
    (retry / "results.json").write_text(json.dumps(results))
    badge = _badge(_bridge(tmp_path, history, runs), "gamma")
    assert "L1 flaky" in badge and "#6a1b9a" in badge


def test_a_newer_default_branch_run_beats_an_older_catalogue_result(tmp_path: Path) -> None:
    history = tmp_path / "catalogue.sqlite"
    write_history(history, time.time() - 3600)
    runs = tmp_path / "runs"
    make_run(runs, "20260101-000000-aaaaaa", recipe="alpha", level=1)  # by hand, just now
    client = TestClient(serve_app(RunsDirCatalog(runs), history=history))
    assert "L1 pass" in _badge(client, "alpha")
    os.utime(runs / "20260101-000000-aaaaaa" / "results.json", (1_000_000, 1_000_000))  # long before it
    assert "L3 pass" in _badge(TestClient(serve_app(RunsDirCatalog(runs), history=history)), "alpha")


def test_a_damaged_history_leaves_the_badge_to_the_run_dirs(tmp_path: Path) -> None:
    history = tmp_path / "catalogue.sqlite"
    history.write_bytes(b"not a history\x00" * 64)
    runs = tmp_path / "runs"
    make_run(runs, "20260101-000000-aaaaaa", recipe="alpha", level=2, mtime=1_000_000)
    client = TestClient(serve_app(RunsDirCatalog(runs), history=history))
    assert "L2 pass" in _badge(client, "alpha")
    assert client.get("/recipes/alpha", headers={"Accept": BROWSER_ACCEPT}).status_code == 200
