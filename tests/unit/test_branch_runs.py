"""A run of a maintainer's local clone says which branch it tested: another branch than the
default shows by its name (never as "default branch"), and the recipe's badge follows only runs
of the default branch."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console
from starlette.testclient import TestClient

from runner.dashboard.badge import badge_entry
from runner.dashboard.catalog import RunsDirCatalog
from runner.dashboard.pages import serve_app
from runner.ops import LIFECYCLE
from runner.orchestrator import Run
from runner.recipe import git
from runner.record.results import RunResult
from runner.run.config import RunConfig
from tests.unit.fake_driver import FakeDriver
from tests.unit.test_dashboard import BROWSER_ACCEPT
from tests.unit.test_orchestrator import Tiers


@pytest.mark.parametrize(("current", "default", "shown"), [
    ("main", None, None), ("master", None, None), ("trunk", "trunk", None),
    ("my-branch", None, "my-branch"), ("main", "trunk", "main"), (None, "main", "0123456789ab"),
])
def test_the_branch_a_run_tested(current: str | None, default: str | None, shown: str | None) -> None:
    assert git.branch_tested(current, default, "0123456789abcdef") == shown


def _run(tmp_path: Path, overlays: Path, repo: Path, **env: str) -> RunResult:
    config = RunConfig.from_env({"RECIPE": str(repo), "CCCI_RUNS_DIR": str(tmp_path / "runs"),
                                 "STAGES": "install", **env}, LIFECYCLE)
    driver = FakeDriver()

    def factory(config: RunConfig, say: Callable[[str], None]) -> FakeDriver:
        driver.settings = config.driver_settings
        return driver
    return Run(config, console=Console(file=io.StringIO()), driver_factory=factory, tests_dir=overlays,
               tier_runner=Tiers()).execute()


def test_a_run_of_another_branch_shows_it_and_the_badge_does_not_follow_it(
        tmp_path: Path, overlays: Path, make_recipe: Callable[..., Path]) -> None:
    repo = make_recipe(tags=["1.0.0+1.0"], head_label="1.1.0+1.1")
    on_main = _run(tmp_path, overlays, repo)
    git.git(repo, "checkout", "-q", "-b", "my-branch")
    on_branch = _run(tmp_path, overlays, repo)
    by_ref = _run(tmp_path, overlays, repo, REF="my-branch")
    assert (on_main.ref, on_branch.ref, by_ref.ref) == (None, "my-branch", "my-branch")

    catalog = RunsDirCatalog(tmp_path / "runs")
    entries = catalog.entries()
    badge = badge_entry(entries, "my-recipe")
    assert badge is not None and badge.run_id == on_main.run_id  # the newest default-branch run, not the newer ones
    page = TestClient(serve_app(catalog)).get(f"/runs/{on_branch.run_id}", headers={"Accept": BROWSER_ACCEPT}).text
    assert "<dt>tested</dt><dd><code>my-branch</code></dd>" in page and "default branch" not in page
