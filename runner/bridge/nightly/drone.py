"""The catalogue's runs as Drone builds: with the Drone executor, each recipe of the nightly
catalogue (and each run of a regression's bisect) is one build of the cc-ci pipeline
(deploy/drone/cc-ci.drone.yml), created with the run's job as parameters, as a `!testme` build
is; Drone's runners run them side by side. The bridge waits for each build and reads the run's
result back from the pipeline's summary step: its `CCCI-RESULT:` line (level, verdict, commit,
error and run dir of the run's results.json); a build without one is an error at L0.

What differs from a run on this machine: the run dir stays on the runner (the row names where),
and `UPGRADE_FROM=last-green` is not asked (the runner cannot read the bridge's history): such a
recipe upgrades from `previous`, as any run. A recipe whose `repo:` is a local path cannot be
cloned on a runner: its row says so.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner.bridge.executors.drone import (
    DroneError,
    DroneExecutor,
    parse_result_line,
    parse_summary_log,
    verdict_for_build_status,
)
from runner.catalogue.model import CatalogueRecipe, RunOne, RunOutcome
from runner.catalogue.process import run_env
from runner.catalogue.schedule import RunOn
from runner.errors import EXIT_BAD_INPUT, EXIT_INFRA
from runner.recipe.naming import new_run_id

TARGET = "drone"  # the target column of a row whose run was a Drone build
# what the run's env carries that a build must not: the runner sets its own runs dir and engine
_RUNNER_OWN = ("CCCI_RUNS_DIR", "CCCI_DOCKER_HOST", "CCCI_CATALOGUE_HISTORY", "UPGRADE_FROM")


def build_params(recipe: CatalogueRecipe, commit: str, stages: str, run_id: str) -> dict[str, str]:
    """The build's parameters: the run's env as `cc-ci catalogue run` would give it, less what
    belongs to the runner. Never CCCI_CATALOGUE: the runner cannot check a mark against the
    bridge's history, so it would refuse the run; the bridge's badge follows that history."""
    env = run_env(recipe, commit, stages, "local", run_id, Path("/"), {})
    params = {key: value for key, value in env.items() if key not in _RUNNER_OWN}
    return params


def outcome_of_build(run_id: str, build: dict[str, Any] | None, log_text: str, url: str,
                     timeout_s: float) -> RunOutcome:
    """What an ended build says of its run: the summary step's CCCI-RESULT line, else an error."""
    if build is None:
        return RunOutcome(level=0, verdict="error", run_id=run_id, run_dir=Path(), exit_code=EXIT_INFRA,
                          target=TARGET, error=f"Drone build {url} did not finish within {timeout_s:.0f}s")
    found = parse_result_line(log_text)
    if found is None or found.get("verdict") not in ("pass", "fail", "error", "empty"):
        verdict, summary = parse_summary_log(log_text)
        status = str(build.get("status"))
        why = summary.splitlines()[-1] if summary else f"ended with status {status}"
        return RunOutcome(level=0, verdict="error", run_id=run_id, run_dir=Path(), exit_code=EXIT_INFRA,
                          target=TARGET, error=f"Drone build {url}: no result of the run ({why}); "
                          f"verdict {verdict or verdict_for_build_status(status)}")
    verdict = str(found["verdict"])
    level = found.get("level")
    commit = found.get("commit")
    return RunOutcome(level=level if isinstance(level, int) else 0, verdict=verdict, run_id=run_id,
                      run_dir=Path(str(found.get("run_dir") or run_id)),
                      exit_code=0 if verdict == "pass" else 1, commit=commit if isinstance(commit, str) else None,
                      target=TARGET, error=None if verdict == "pass" else (found.get("error") or f"see {url}"))


class DroneRuns:
    """Makes catalogue runs as builds of the executor's Drone repo."""

    def __init__(self, executor: DroneExecutor, timeout_s: float,
                 new_id: Callable[[], str] = new_run_id) -> None:
        self._drone = executor
        self._timeout_s = timeout_s
        self._new_id = new_id

    def run_on(self, history: Path) -> RunOn:
        """`RunOn` of the catalogue: every target is Drone (`history` is the bridge's, which the
        runner cannot read: no last-green there)."""
        def on(target: str) -> RunOne:
            return lambda recipe, commit, stages: self.run(recipe, commit, stages)
        return on

    def run(self, recipe: CatalogueRecipe, commit: str, stages: str) -> RunOutcome:
        run_id = self._new_id()
        if recipe.repo and "://" not in recipe.repo:
            return RunOutcome(level=0, verdict="error", run_id=run_id, run_dir=Path(), exit_code=EXIT_BAD_INPUT,
                              target=TARGET, error=f"repo {recipe.repo} is a path on the bridge's machine, which "
                              "Drone's runners cannot clone; give the recipe's URL in the catalogue file")
        number = self._drone.create_build(build_params(recipe, commit, stages, run_id))
        build = self._drone.await_build(number)
        log_text = self._drone.summary_log(number, build) if build is not None else ""
        return outcome_of_build(run_id, build, log_text, self._drone.build_url(number), self._timeout_s)

    def close(self) -> None:
        self._drone.close()

    def probe(self, target: str) -> bool:
        """Does Drone answer? Asked after a build could not be made."""
        try:
            self._drone.whoami()
        except DroneError:
            return False
        return True
