"""A catalogue of the bundled recipes, run for real on the local swarm two at a time: the matrix,
the history, and a second catalogue run that shows nothing changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner.plumbing.paths import REPO_ROOT
from runner.run.rundir import RunDir
from tests.e2e.conftest import SUITE_DOMAIN_BASE
from tests.e2e.support import suite_objects

pytestmark = pytest.mark.e2e

CATALOGUE = """\
stages: install
recipes:
  - name: custom-html-tiny
  - name: notes-tiny
"""


def cc_ci(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RECIPE", "REF", "PR", "STAGES", "VERSION")}
    env |= {"CCCI_RUNS_DIR": str(tmp_path / "runs"), "CCCI_DOMAIN_BASE": SUITE_DOMAIN_BASE}
    return subprocess.run([sys.executable, "-m", "runner.cli", "catalogue", *args,
                           "--history", str(tmp_path / "catalogue.sqlite")],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)


def matrix(stdout: str) -> dict[str, list[str]]:
    """recipe -> its matrix cells (commit, level, verdict, change…, target)."""
    return {cells[0]: cells[1:] for line in stdout.splitlines()
            if (cells := line.split()) and cells[0] in ("custom-html-tiny", "notes-tiny")}


def test_a_catalogue_runs_its_recipes_two_at_a_time_and_remembers_them(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.yml"
    path.write_text(CATALOGUE)

    first = cc_ci(tmp_path, "run", str(path), "--jobs", "2")
    assert first.returncode == 0, first.stderr
    rows = matrix(first.stdout)
    assert set(rows) == {"custom-html-tiny", "notes-tiny"}
    for cells in rows.values():
        commit, level, verdict, change, target = cells
        assert (level, verdict, change, target) == ("L1", "pass", "new", "local")
        assert len(commit) == 12
    run_dirs = sorted((tmp_path / "runs").iterdir())
    assert len(run_dirs) == 2  # each recipe one ordinary run, with its own run dir
    for run_dir in run_dirs:
        results = json.loads(RunDir(run_dir).results.read_text())
        assert (results["verdict"], results["level"], results["teardown_clean"]) == ("pass", 1, True)
        assert not [o for o in suite_objects() if results["stack"] in o]
    # two at a time: both had started before the first one ended
    progress = [line for line in first.stderr.splitlines() if line.startswith("catalogue: ")]
    assert [line.endswith("running on local") for line in progress[:2]] == [True, True], progress

    second = cc_ci(tmp_path, "run", str(path), "--jobs", "2")
    assert second.returncode == 0, second.stderr
    assert {name: cells[3] for name, cells in matrix(second.stdout).items()} == {"custom-html-tiny": "=", "notes-tiny": "="}

    status = cc_ci(tmp_path, "status", "--json")
    assert status.returncode == 0, status.stderr
    latest = json.loads(status.stdout)
    assert [(r["recipe"], r["level"], r["verdict"], r["change"]) for r in latest["rows"]] == \
        [("custom-html-tiny", 1, "pass", "="), ("notes-tiny", 1, "pass", "=")]
    history = cc_ci(tmp_path, "history", "notes-tiny")
    assert history.returncode == 0, history.stderr
    # `#<run>  <date> <time> UTC  <commit>  <level>  <verdict>  <change>  <run id>`
    assert [line.split()[7] for line in history.stdout.splitlines()] == ["=", "new"]
