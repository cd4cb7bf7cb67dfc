"""Runs do not collide: two runs of the same recipe at once share no app, stack or run dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner.harness.paths import REPO_ROOT

pytestmark = pytest.mark.e2e


def test_two_runs_of_the_same_recipe_at_once_both_pass_apart(tmp_path: Path) -> None:
    env = {**os.environ, "RECIPE": "custom-html-tiny", "CCCI_RUNS_DIR": str(tmp_path / "runs")}
    procs = [subprocess.Popen([sys.executable, "-m", "runner.run_recipe_ci"], cwd=REPO_ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], [err for _, err in outputs]
    results = [json.loads(p.read_text()) for p in sorted((tmp_path / "runs").glob("*/results.json"))]
    assert len(results) == 2
    assert len({r["run_id"] for r in results}) == 2
    assert len({r["stack"] for r in results}) == 2
    assert len({r["domain"] for r in results}) == 2
    assert all(r["deploy_count"] == 1 and r["teardown_leftovers"] == [] for r in results)
    clones = {Path(r["run_dir"]) / "recipe" for r in results}
    assert len(clones) == 2
