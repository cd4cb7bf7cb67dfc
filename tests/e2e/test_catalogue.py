"""A catalogue of two small recipes, run for real on the local swarm two at a time: a second
target that refuses the connection hands its recipe to the local one; then one recipe's branch
gets three commits, the middle one breaking its install, and the next catalogue run marks it
regressed, names that middle commit as the first bad one, and shows the other unchanged."""

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

REFUSED = "ssh://ci@127.0.0.1:1"  # nothing listens on port 1: the connection is refused
CATALOGUE = f"""\
stages: install
targets: [local, "{REFUSED}"]
recipes:
  - name: custom-html-tiny
    repo: custom-html-tiny       # a clone beside this file
    ref: main
  - name: notes-tiny
"""


def _commit(repo: Path, path: str, text: str, message: str) -> str:
    (repo / path).write_text(text)
    git.git(repo, "add", "-A")
    git.git(repo, "commit", "-q", "-m", message)
    return git.git(repo, "rev-parse", "HEAD")


def cc_ci(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RECIPE", "REF", "PR", "STAGES", "VERSION")}
    env |= {"CCCI_RUNS_DIR": str(tmp_path / "runs"), "CCCI_DOMAIN_BASE": SUITE_DOMAIN_BASE,
            "CCCI_RESOLVE_IMAGE": "never"}  # the clone's images are the local ones
    return subprocess.run([sys.executable, "-m", "runner.cli", "catalogue", *args,
                           "--history", str(tmp_path / "catalogue.sqlite")],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)


def matrix(stdout: str) -> dict[str, list[str]]:
    """recipe -> its matrix cells (commit, level, verdict, change…, target)."""
    return {cells[0]: cells[1:] for line in stdout.splitlines()
            if (cells := line.split()) and cells[0] in ("custom-html-tiny", "notes-tiny")}


def test_a_catalogue_runs_two_at_a_time_and_bisects_a_regression(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.yml"
    path.write_text(CATALOGUE)
    repo = tmp_path / "custom-html-tiny"
    git.git(None, "clone", "-q", str(bundled_recipe_repo("custom-html-tiny")), str(repo))
    good = git.git(repo, "rev-parse", "HEAD")

    first = cc_ci(tmp_path, "run", str(path), "--jobs", "2")
    assert first.returncode == 0, first.stderr
    # the second recipe went to the emptier target, which refused it: taken out, the recipe ran here
    assert f"target {REFUSED} went down; the recipes left run on local" in first.stdout
    assert f"notes-tiny: target {REFUSED} went down; ran on local instead" in first.stdout
    rows = matrix(first.stdout)
    assert set(rows) == {"custom-html-tiny", "notes-tiny"}
    for cells in rows.values():
        commit, level, verdict, change, target = cells
        assert (level, verdict, change, target) == ("L1", "pass", "new", "local")
        assert len(commit) == 12
    assert rows["custom-html-tiny"][0] == good[:12]
    # each recipe one ordinary run with its own run dir (the refused one wrote none)
    run_dirs = [d for d in sorted((tmp_path / "runs").iterdir()) if RunDir(d).results.exists()]
    assert len(run_dirs) == 2
    for run_dir in run_dirs:
        results = json.loads(RunDir(run_dir).results.read_text())
        assert (results["verdict"], results["level"], results["teardown_clean"]) == ("pass", 1, True)
    # two at a time: the moved recipe started on local before the first one ended
    progress = [line.removeprefix("catalogue: ") for line in first.stderr.splitlines() if line.startswith("catalogue: ")]
    assert progress[:4] == ["custom-html-tiny: running on local", f"notes-tiny: running on {REFUSED}",
                            f"target {REFUSED} went down; the recipes left run on local", "notes-tiny: running on local"]

    # three commits on the recipe's branch, the middle one breaking its install
    _commit(repo, "NOTES.md", "a harmless change\n", "docs: a note")
    compose = (repo / "compose.yml").read_text()
    broke = _commit(repo, "compose.yml", compose.replace("custom-html-tiny:1.1", "custom-html-tiny:9.9"),
                    "ship an image nobody built")
    bad = _commit(repo, "NOTES.md", "another harmless change\n", "docs: another note")

    second = cc_ci(tmp_path, "run", str(path), "--jobs", "2", "--target", "local", "--no-retry")
    assert second.returncode == 1, second.stdout + second.stderr  # something regressed
    rows = matrix(second.stdout)
    assert rows["custom-html-tiny"][:5] == [bad[:12], "L0", "error", "regressed", "L1→L0"]
    assert rows["notes-tiny"][3] == "="
    assert f"custom-html-tiny: first bad commit {broke} ship an image nobody built" in second.stdout

    status = cc_ci(tmp_path, "status", "--json")
    assert status.returncode == 0, status.stderr
    latest = json.loads(status.stdout)
    assert [(r["recipe"], r["level"], r["verdict"], r["change"], r["first_bad"]) for r in latest["rows"]] == \
        [("custom-html-tiny", 0, "error", "regressed L1→L0", broke), ("notes-tiny", 1, "pass", "=", None)]
    history = cc_ci(tmp_path, "history", "notes-tiny")
    assert history.returncode == 0, history.stderr
    # `#<run>  <date> <time> UTC  <commit>  <level>  <verdict>  <change>  <run id>`
    assert [line.split()[7] for line in history.stdout.splitlines()] == ["=", "new"]

    # nothing of the runs is left on the swarm: 2 + 2 catalogue runs, 3 bisect steps (⌈log2(3)⌉ + 1)
    stacks = [json.loads(RunDir(d).results.read_text())["stack"] for d in (tmp_path / "runs").iterdir()
              if RunDir(d).results.exists()]
    assert len(stacks) == 7
    assert [o for o in suite_objects() if any(stack in o for stack in stacks)] == []
