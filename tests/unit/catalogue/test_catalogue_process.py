"""The real RunOne's seams: the run's environment, and its outcome read back from its run dir."""

from __future__ import annotations

import json
from pathlib import Path

from runner.catalogue.model import CatalogueRecipe
from runner.catalogue.process import error_line, outcome_of, run_env
from runner.run.rundir import RunDir

CALLER = {"PATH": "/usr/bin", "RECIPE": "theirs", "PR": "7", "VERSION": "1.0.0", "CCCI_DOCKER_HOST": "local",
          "CCCI_DOMAIN_BASE": "ccci.test"}


def test_the_run_gets_this_job_and_none_of_the_callers() -> None:
    env = run_env(CatalogueRecipe(name="notes-tiny", stages="install"), "", "install", "ssh://ci@b", "r1",
                  Path("/runs"), CALLER)
    assert env == {"PATH": "/usr/bin", "CCCI_DOMAIN_BASE": "ccci.test", "RECIPE": "notes-tiny", "STAGES": "install",
                   "CCCI_RUN_ID": "r1", "CCCI_RUNS_DIR": "/runs", "CCCI_DOCKER_HOST": "ssh://ci@b"}


def test_a_path_is_the_recipe_and_a_commit_is_its_ref() -> None:
    env = run_env(CatalogueRecipe(name="mine", repo="/src/mine"), "abc123", "install,upgrade", "local", "r1",
                  Path("/runs"), {})
    assert (env["RECIPE"], env["REF"], env["STAGES"]) == ("/src/mine", "abc123", "install,upgrade")


def test_a_url_is_cloned_through_the_url_template() -> None:
    env = run_env(CatalogueRecipe(name="mine", repo="https://git.example.org/c{o}op/mine.git"), "", "install",
                  "local", "r1", Path("/runs"), {})
    assert env["RECIPE"] == "mine"
    assert env["CCCI_RECIPE_URL_TEMPLATE"].format(name="mine") == "https://git.example.org/c{o}op/mine.git"


def test_the_outcome_is_read_from_results_json(tmp_path: Path) -> None:
    run_dir = RunDir.at(tmp_path, "r1")
    run_dir.root.mkdir()
    run_dir.results.write_text(json.dumps({"verdict": "fail", "level": 1, "head_commit": "f" * 40, "error": None}))
    outcome = outcome_of(run_dir, "r1", 1, "local", None)
    assert (outcome.level, outcome.verdict, outcome.commit, outcome.exit_code, outcome.run_dir) == \
        (1, "fail", "f" * 40, 1, run_dir.root)


def test_a_run_without_results_is_an_error_with_its_own_line(tmp_path: Path) -> None:
    line = error_line("starting\ncc-ci: error: RECIPE: no bundled recipe 'x'\n")
    outcome = outcome_of(RunDir.at(tmp_path, "r2"), "r2", 2, "local", line)
    assert (outcome.level, outcome.verdict, outcome.exit_code, outcome.error) == \
        (0, "error", 2, "RECIPE: no bundled recipe 'x'")
    assert outcome_of(RunDir.at(tmp_path, "r3"), "r3", -9, "local", None).error == \
        "the run ended (exit -9) without writing results.json"
