"""E2E support: real runs on the local swarm, and a check that the suite leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runner.drivers.swarm import substrate
from runner.plumbing.paths import REPO_ROOT
from runner.recipe import git
from runner.recipe.repos import bundled_recipe_repo
from tests.e2e.support import RunOutcome, suite_objects

SUITE_DOMAIN_BASE = "ccci.test"  # every e2e run's stack ends in `_ccci_test`


@pytest.fixture(scope="session", autouse=True)
def local_swarm() -> Iterator[None]:
    substrate.ensure_substrate(lambda message: print(f"swarm: {message}"))
    before = suite_objects()
    yield
    left = sorted(set(suite_objects()) - set(before))
    assert not left, f"the e2e suite left objects behind: {left}"


@pytest.fixture
def run_ci(tmp_path: Path) -> Callable[..., RunOutcome]:
    """Run `python -m runner.run_recipe_ci` with the given env vars, as an operator would."""
    def run(timeout: float = 600, cwd: Path = REPO_ROOT, **env: str) -> RunOutcome:
        runs_dir = tmp_path / "runs"
        full_env = {k: v for k, v in os.environ.items() if k not in ("RECIPE", "REF", "PR", "STAGES", "VERSION")}
        full_env |= {"CCCI_RUNS_DIR": str(runs_dir), "CCCI_DOMAIN_BASE": SUITE_DOMAIN_BASE, **env}
        done = subprocess.run([sys.executable, "-m", "runner.run_recipe_ci"], cwd=cwd,
                              env=full_env, capture_output=True, text=True, timeout=timeout)
        return RunOutcome(done.returncode, done.stdout, done.stderr, runs_dir)
    return run


@pytest.fixture
def recipe_variant(tmp_path: Path) -> Callable[[Callable[[Path], None], str], Path]:
    """A clone of the bundled example with one more commit made by `change(repo)`."""
    def make(change: Callable[[Path], None], message: str) -> Path:
        repo = tmp_path / "custom-html-tiny"
        git.git(None, "clone", "-q", str(bundled_recipe_repo("custom-html-tiny")), str(repo))
        change(repo)
        git.git(repo, "commit", "-q", "-am", message)
        return repo
    return make
