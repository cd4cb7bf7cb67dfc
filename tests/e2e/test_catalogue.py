"""A catalogue of five small recipes (two bundled, three generated: clones of the bundled example
under names of their own, install only), run for real on the local swarm two at a time: a second
target that refuses the connection hands its recipe to the local one; then one recipe's branch
gets three commits, the middle one breaking its install, and the next catalogue run marks it
regressed, bisects it (each step an ordinary run that tears its app down, unmarked) to that middle
commit, and shows the others unchanged; nothing is left on the swarm."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runner.plumbing.paths import REPO_ROOT
from runner.recipe import git
from runner.recipe.repos import bundled_recipe_repo
from runner.run.rundir import RunDir
from tests.e2e.conftest import SUITE_DOMAIN_BASE
from tests.e2e.support import suite_objects

pytestmark = pytest.mark.e2e

REFUSED = "ssh://ci@127.0.0.1:1"  # nothing listens on port 1: the connection is refused
GENERATED = ["generated-1", "generated-2", "generated-3"]
RECIPES = ["custom-html-tiny", "notes-tiny", *GENERATED]
CATALOGUE = f"""\
stages: install
targets: [local, "{REFUSED}"]
recipes:
  - name: custom-html-tiny
    repo: custom-html-tiny       # a clone beside this file
    ref: main
  - name: notes-tiny
""" + "".join(f"  - name: {name}\n    repo: {name}\n" for name in GENERATED)


def _commit(repo: Path, path: str, text: str, message: str) -> str:
    (repo / path).write_text(text)
    git.git(repo, "add", "-A")
    git.git(repo, "commit", "-q", "-m", message)
    return git.git(repo, "rev-parse", "HEAD")


def cc_ci(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RECIPE", "REF", "PR", "STAGES", "VERSION")}
    env |= {"CCCI_RUNS_DIR": str(tmp_path / "runs"), "CCCI_DOMAIN_BASE": SUITE_DOMAIN_BASE,
            "CCCI_RESOLVE_IMAGE": "never",  # the clones' images are the local ones
            "CCCI_PICTURES": "0"}  # 13 runs: no screenshots or cards (other e2e tests take those)
    return subprocess.run([sys.executable, "-m", "runner.cli", "catalogue", *args,
                           "--history", str(tmp_path / "catalogue.sqlite")],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)


def matrix(stdout: str) -> dict[str, list[str]]:
    """recipe -> its matrix cells (commit, level, verdict, change…, target)."""
    return {cells[0]: cells[1:] for line in stdout.splitlines()
            if (cells := line.split()) and cells[0] in RECIPES}


def _results(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(RunDir(d).results.read_text()) for d in sorted((tmp_path / "runs").iterdir())
            if RunDir(d).results.exists()]


def test_a_catalogue_of_five_runs_two_at_a_time_and_bisects_a_regression_to_its_first_bad_commit(
        tmp_path: Path) -> None:
    path = tmp_path / "catalogue.yml"
    path.write_text(CATALOGUE)
    repo = tmp_path / "custom-html-tiny"
    for name in ("custom-html-tiny", *GENERATED):
        git.git(None, "clone", "-q", str(bundled_recipe_repo("custom-html-tiny")), str(tmp_path / name))
    good = git.git(repo, "rev-parse", "HEAD")

    first = cc_ci(tmp_path, "run", str(path), "--jobs", "2")
    assert first.returncode == 0, first.stdout + first.stderr
    # the second recipe went to the emptier target, which refused it: taken out, the recipe ran here
    assert f"target {REFUSED} went down; the recipes left run on local" in first.stdout
    assert f"notes-tiny: target {REFUSED} went down; ran on local instead" in first.stdout
    rows = matrix(first.stdout)
    assert list(rows) == RECIPES
    for cells in rows.values():
        commit, level, verdict, change, target = cells
        assert (level, verdict, change, target) == ("L1", "pass", "new", "local"), first.stdout
        assert len(commit) == 12
    assert rows["custom-html-tiny"][0] == good[:12]
    # each recipe one ordinary run with its own run dir (the refused one wrote none), marked as the
    # catalogue's run of that recipe (the badge follows it)
    results = _results(tmp_path)
    assert sorted(r["catalogue"] for r in results) == sorted(RECIPES)
    for r in results:
        assert (r["verdict"], r["level"], r["teardown_clean"]) == ("pass", 1, True)
    # two at a time: the second recipe went to the refused target while the first ran; it moved to
    # local once the target was found down (whether the first recipe ended before that refusal came
    # back depends on the machine's load, so only the causal order is asserted)
    progress = [line.removeprefix("catalogue: ") for line in first.stderr.splitlines() if line.startswith("catalogue: ")]
    assert progress[:2] == ["custom-html-tiny: running on local", f"notes-tiny: running on {REFUSED}"], progress
    down, moved = f"target {REFUSED} went down; the recipes left run on local", "notes-tiny: running on local"
    assert down in progress and moved in progress and progress.index(down) < progress.index(moved), progress
    assert max(_running_at_once(progress)) == 2

    # three commits on the recipe's branch, the middle one breaking its install
    _commit(repo, "NOTES.md", "a harmless change\n", "docs: a note")
    compose = (repo / "compose.yml").read_text()
    assert "custom-html-tiny:1.1" in compose
    broke = _commit(repo, "compose.yml", compose.replace("custom-html-tiny:1.1", "custom-html-tiny:9.9"),
                    "ship an image nobody built")
    bad = _commit(repo, "NOTES.md", "another harmless change\n", "docs: another note")

    second = cc_ci(tmp_path, "run", str(path), "--jobs", "2", "--target", "local", "--no-retry")
    print(second.stdout)  # the matrix, for whoever reads the test's output (docs/catalogue.md shows one)
    assert second.returncode == 1, second.stdout + second.stderr  # something regressed
    rows = matrix(second.stdout)
    assert rows["custom-html-tiny"][:5] == [bad[:12], "L0", "error", "regressed", "L1→L0"]
    assert {name: rows[name][1:4] for name in RECIPES[1:]} == {name: ["L1", "pass", "="] for name in RECIPES[1:]}
    assert f"custom-html-tiny: first bad commit {broke} ship an image nobody built" in second.stdout
    # the bisect: ⌈log2(3)⌉ + 1 steps, the new head first, each an ordinary run that is not marked
    # as a catalogue run (a bisect of an old commit never moves the badge), torn down clean
    steps = [line.removeprefix("catalogue: ") for line in second.stderr.splitlines()
             if line.startswith("catalogue: step ")]
    assert len(steps) == 3, second.stderr
    assert steps[0].startswith(f"step 1/3: {bad[:12]} install … L0 (error"), steps
    results = _results(tmp_path)
    assert sorted(r["level"] for r in results if r["catalogue"] is None) == [0, 0, 1]
    assert all(r["teardown_leftovers"] == [] for r in results)

    status = cc_ci(tmp_path, "status", "--json")
    assert status.returncode == 0, status.stderr
    latest = json.loads(status.stdout)
    assert sorted((r["recipe"], r["level"], r["verdict"], r["change"], r["first_bad"]) for r in latest["rows"]) == \
        sorted([("custom-html-tiny", 0, "error", "regressed L1→L0", broke)] + [(name, 1, "pass", "=", None)
                                                                              for name in RECIPES[1:]])
    history = cc_ci(tmp_path, "history", "notes-tiny")
    assert history.returncode == 0, history.stderr
    # `#<run>  <date> <time> UTC  <commit>  <level>  <verdict>  <change>  <run id>`
    assert [line.split()[7] for line in history.stdout.splitlines()] == ["=", "new"]

    # nothing of the runs is left on the swarm: 5 + 5 catalogue runs, 3 bisect steps
    stacks = [r["stack"] for r in results]
    assert len(stacks) == 13
    assert [o for o in suite_objects() if any(stack in o for stack in stacks)] == []


def _running_at_once(progress: list[str]) -> list[int]:
    """How many of the catalogue's runs were under way after each progress line (a run starts at
    `<recipe>: running on local` and ends at its `<recipe>: <verdict> L<n> <change>` line)."""
    running: set[str] = set()
    counts = []
    for line in progress:
        recipe, _, said = line.partition(": ")
        if said == "running on local":
            running.add(recipe)
        elif said.split()[:1] and said.split()[0] in ("pass", "fail", "error", "flaky"):
            running.discard(recipe)
        counts.append(len(running))
    return counts
