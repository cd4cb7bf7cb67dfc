"""The catalogue's real runs: each one an ordinary run, `python -m runner.run_recipe_ci` in a
process of its own with the job in env vars (as the bridge's local executor starts them), so it
has its own run dir, app and teardown exactly as `cc-ci run`; its outcome is read back from its
results.json. And the probe that asks whether a target still answers.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from runner.catalogue.model import CatalogueRecipe, RunOne, RunOutcome
from runner.errors import EXIT_INFRA
from runner.ops import LIFECYCLE
from runner.ops.upgrade import Upgrade
from runner.plumbing.paths import REPO_ROOT, default_runs_dir
from runner.recipe.naming import new_run_id
from runner.run.config import TargetSettings
from runner.run.lastgreen import LAST_GREEN, MARK_VAR, catalogue_mark, find_last_green
from runner.run.readback import read_results
from runner.run.rundir import RunDir, RunFileUnreadable
from runner.targets import open_target

# what a catalogue run must not inherit from the caller's environment: it says what to run itself
_JOB_VARS = ("RECIPE", "REF", "PR", "PR_HEAD_REPO", "VERSION", "STAGES", "CCCI_RUN_ID", "CCCI_DOCKER_HOST",
             "UPGRADE_FROM", MARK_VAR, "CCCI_CATALOGUE_HISTORY")
ERROR_TAIL_BYTES = 64 * 1024


def run_env(recipe: CatalogueRecipe, commit: str, stages: str, target: str, run_id: str,
            runs_dir: Path, base: Mapping[str, str], history: Path | None = None,
            mark: int | None = None) -> dict[str, str]:
    """The run's environment: ours, minus any job of the caller's, plus this one. With the
    catalogue's `history`, a run whose stages upgrade starts from the recipe's last green commit
    when it has one (else from `previous`, as any run); `mark`: the number of the catalogue run in
    progress whose own run of the recipe this is (results.json's `catalogue`, which the badge
    follows; the run checks the number against the history), none for a bisect's."""
    env = {key: value for key, value in base.items() if key not in _JOB_VARS}
    env.update(STAGES=stages, CCCI_RUN_ID=run_id, CCCI_RUNS_DIR=str(runs_dir), CCCI_DOCKER_HOST=target,
               RECIPE=recipe.name)
    if recipe.repo and "://" in recipe.repo:  # the file checked that the URL ends in /<name>[.git]
        env["CCCI_RECIPE_URL_TEMPLATE"] = re.sub(rf"/{re.escape(recipe.name)}(\.git)?/?$",
                                                 lambda m: "/{name}" + (m.group(1) or ""),
                                                 recipe.repo.replace("{", "{{").replace("}", "}}"))
    elif recipe.repo:
        env["RECIPE"] = recipe.repo  # a local path
    if commit:
        env["REF"] = commit
    if history is not None:
        env["CCCI_CATALOGUE_HISTORY"] = str(history)
        if mark is not None:
            env[MARK_VAR] = catalogue_mark(recipe.name, mark)
        upgrades = Upgrade.spec.name in LIFECYCLE.stages([s.strip() for s in stages.split(",") if s.strip()])
        if upgrades and find_last_green(history, recipe.name) is not None:
            env["UPGRADE_FROM"] = LAST_GREEN
    return env


RUN_COMMAND = (sys.executable, "-m", "runner.run_recipe_ci")


def run_on(target: str, runs_dir: Path | None = None, base: Mapping[str, str] | None = None,
           history: Path | None = None, mark: int | None = None, command: Sequence[str] = RUN_COMMAND,
           cwd: Path = REPO_ROOT) -> RunOne:
    """The RunOne that makes ordinary runs on `target` (`history`, `mark`: as `run_env`);
    `command` in `cwd` is the run (the bridge's nightly starts it as its local executor does)."""
    where = runs_dir or Path(os.environ.get("CCCI_RUNS_DIR") or default_runs_dir())

    def run_one(recipe: CatalogueRecipe, commit: str, stages: str) -> RunOutcome:
        run_id = new_run_id()
        env = run_env(recipe, commit, stages, target, run_id, where, os.environ if base is None else base,
                      history, mark)
        with tempfile.TemporaryFile() as output:
            code = subprocess.run(list(command), env=env, cwd=cwd,
                                  stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                  check=False).returncode
            output.seek(max(0, output.seek(0, os.SEEK_END) - ERROR_TAIL_BYTES))
            tail = output.read().decode(errors="replace")
        return outcome_of(RunDir.at(where, run_id), run_id, code, target, error_line(tail))

    return run_one


def outcome_of(run_dir: RunDir, run_id: str, exit_code: int, target: str, error: str | None) -> RunOutcome:
    """What the run left: its results.json's level, verdict and commit; a run that wrote none
    (refused before it began, or killed) is an error at L0 with its own last error line."""
    try:
        results = read_results(run_dir.root)
    except RunFileUnreadable as err:
        results, error = None, f"results.json unreadable: {err}"
    if results is None or results.verdict is None:
        return RunOutcome(level=0, verdict="error", run_id=run_id, run_dir=run_dir.root,
                          exit_code=exit_code if exit_code else EXIT_INFRA, target=target,
                          error=error or f"the run ended (exit {exit_code}) without writing results.json")
    return RunOutcome(level=results.level or 0, verdict=results.verdict, run_id=run_id, run_dir=run_dir.root,
                      exit_code=exit_code, commit=results.head_commit, target=target,
                      error=results.error if results.verdict != "pass" else None)


def error_line(output: str) -> str | None:
    """The run's own `cc-ci: error: …` line, the last one."""
    found = [line.strip() for line in output.splitlines() if line.startswith("cc-ci: error:")]
    return found[-1].removeprefix("cc-ci: error:").strip()[:300] if found else None


def probe(target: str) -> bool:
    """Does the target's engine answer? Asked after a run on it could not be made (exit 3)."""
    try:
        opened = open_target(TargetSettings.from_env({**os.environ, "CCCI_DOCKER_HOST": target}))
        try:
            return bool(opened.client.ping())
        finally:
            opened.close()
    except Exception:  # noqa: BLE001 - any failure to connect or answer is "down"
        return False
