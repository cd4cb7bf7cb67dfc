"""`cc-ci bisect` on the local swarm: three commits on the bundled example, the middle one breaking
its install; the bisect names it, each step an ordinary run that tears its app down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner.plumbing.paths import REPO_ROOT
from runner.recipe import git
from runner.recipe.repos import bundled_recipe_repo
from runner.run.rundir import RunDir
from tests.e2e.conftest import SUITE_DOMAIN_BASE
from tests.e2e.support import suite_objects

pytestmark = pytest.mark.e2e


def _commit(repo: Path, path: str, text: str, message: str) -> str:
    (repo / path).write_text(text)
    git.git(repo, "add", "-A")
    git.git(repo, "commit", "-q", "-m", message)
    return git.git(repo, "rev-parse", "HEAD")


def test_bisect_names_the_commit_that_broke_the_install(tmp_path: Path) -> None:
    repo = tmp_path / "custom-html-tiny"
    git.git(None, "clone", "-q", str(bundled_recipe_repo("custom-html-tiny")), str(repo))
    good = git.git(repo, "rev-parse", "HEAD")
    _commit(repo, "NOTES.md", "a harmless change\n", "docs: a note")
    compose = (repo / "compose.yml").read_text()
    assert "custom-html-tiny:1.1" in compose
    broke = _commit(repo, "compose.yml", compose.replace("custom-html-tiny:1.1", "custom-html-tiny:9.9"),
                    "ship an image nobody built")
    bad = _commit(repo, "NOTES.md", "another harmless change\n", "docs: another note")
    runs_dir = tmp_path / "runs"
    env = {k: v for k, v in os.environ.items() if k not in ("RECIPE", "REF", "PR", "STAGES", "VERSION")}
    env |= {"CCCI_RUNS_DIR": str(runs_dir), "CCCI_DOMAIN_BASE": SUITE_DOMAIN_BASE, "CCCI_RESOLVE_IMAGE": "never"}

    done = subprocess.run([sys.executable, "-m", "runner.cli", "bisect", str(repo), "--good", good, "--bad", bad,
                           "--stages", "install"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)

    print(done.stdout)  # the steps, for whoever reads the test's output
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"first bad commit: {broke} ship an image nobody built\n" in done.stdout
    steps = [line for line in done.stdout.splitlines() if line.startswith("step ")]
    assert len(steps) == 3, done.stdout  # ⌈log2(3)⌉ + 1
    assert steps[0].startswith(f"step 1/3: {bad[:12]} install … L0 (error")
    results = [json.loads(RunDir(run_dir).results.read_text()) for run_dir in runs_dir.iterdir() if run_dir.is_dir()]
    assert sorted(r["level"] for r in results) == [0, 0, 1]
    assert all(r["teardown_leftovers"] == [] for r in results)
    stacks = {r["stack"] for r in results}
    assert [o for o in suite_objects() if any(stack in o for stack in stacks)] == []
