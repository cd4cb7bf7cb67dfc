"""The nightly catalogue under the Drone executor: each recipe one Drone build of the cc-ci
pipeline, all of them in flight at once (Drone's runners are the fan-out), their results read back
from the summary step's CCCI-RESULT line into the one catalogue history. Against the stand-in
Drone the executor's own tests use; the pipeline's side of the contract (the line it prints from
results.json) is run by sh from the shipped deploy/drone/cc-ci.drone.yml."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from runner.bridge.config import BridgeConfig
from runner.bridge.executors.drone import parse_result_line, parse_summary_log
from runner.bridge.nightly.drone import build_params
from runner.bridge.service import Bridge, load_secrets
from runner.catalogue.history import History
from runner.catalogue.model import CatalogueRecipe
from tests.unit.bridge.bridge_standins import StandinDrone, StandinForge
from tests.unit.bridge.support import FakeRuns, config_data

CI_REPO = "coop-cloud/cc-ci"
PIPELINE = Path(__file__).resolve().parents[3] / "deploy/drone/cc-ci.drone.yml"


def _result_log(verdict: str, level: int, commit: str, error: str | None = None) -> str:
    brief = {"verdict": verdict, "level": level, "commit": commit, "error": error,
             "run_dir": "/var/lib/cc-ci/runs/x"}
    return f"CCCI-VERDICT: {verdict}\nCCCI-RESULT: {json.dumps(brief)}\n## summary\n"


class Runners:
    """Drone's runners: once `wait_for` builds are pending at once, each ends as `answer` says."""

    def __init__(self, drone: StandinDrone, wait_for: int, answer: dict[str, tuple[str, str | None]]) -> None:
        self.drone, self.wait_for, self.answer = drone, wait_for, answer
        self.most_pending = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            pending = [(key, b) for key, b in list(self.drone.builds.items()) if b["status"] == "pending"]
            self.most_pending = max(self.most_pending, len(pending))
            if len(pending) >= self.wait_for or (pending and self.most_pending >= self.wait_for):
                for (repo, number), build in pending:
                    status, log = self.answer[build["params"]["RECIPE"]]
                    self.drone.finish(repo, number, status, log)
            time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _drone_bridge(tmp_path: Path, forge: StandinForge, drone: StandinDrone, fake_runs: FakeRuns,
                  recipes: list[dict[str, Any]], capacity: int) -> tuple[Bridge, Path]:
    drone.add_repo(CI_REPO)
    catalogue = tmp_path / "nightly.yml"
    catalogue.write_text(yaml.safe_dump({"stages": "install,upgrade", "recipes": recipes}))
    history = tmp_path / "catalogue.sqlite"
    data = config_data(tmp_path, forge.url, fake_runs, catalogue_history=str(history),
                       nightly={"catalogue": str(catalogue), "at": "03:00", "retry": False, "bisect": False})
    data["executor"] = {"kind": "drone", "url": drone.url, "token": {"env": "BRIDGE_TEST_SECRET_DRONE"},
                        "repo": CI_REPO, "capacity": capacity, "poll_interval_seconds": 0.02}
    cfg = BridgeConfig.model_validate(data)
    clock = iter([datetime(2026, 12, 6, 12, tzinfo=UTC), datetime(2026, 12, 7, 3, tzinfo=UTC)])
    return Bridge(cfg, load_secrets(cfg), clock=lambda: next(clock)), history


def test_each_recipe_is_one_drone_build_all_at_once_and_their_results_reach_the_history(
        tmp_path: Path, forge: StandinForge, drone: StandinDrone, fake_runs: FakeRuns, bridge_env: None) -> None:
    recipes = [{"name": "alpha"}, {"name": "beta", "ref": "v2"},
               {"name": "gamma", "repo": "https://git.example.org/coop-cloud/gamma.git"}]
    bridge, history = _drone_bridge(tmp_path, forge, drone, fake_runs, recipes, capacity=3)
    runners = Runners(drone, wait_for=3, answer={
        "alpha": ("success", _result_log("pass", 2, "a" * 40)),
        "beta": ("failure", _result_log("fail", 1, "b" * 40, "upgrade: the app did not answer")),
        "gamma": ("success", _result_log("pass", 2, "c" * 40)),
    })
    try:
        assert bridge.nightly is not None
        assert bridge.nightly.tick() is None  # first start
        assert bridge.nightly.tick() is not None  # 03:00 next day: the night, three builds
    finally:
        runners.stop()
        bridge.stop()
    assert runners.most_pending == 3  # the three builds were in flight together: Drone fans them out
    creates = drone.calls_to("POST", f"/api/repos/{CI_REPO}/builds")
    params = {call.query["RECIPE"]: call.query for call in creates}
    assert sorted(params) == ["alpha", "beta", "gamma"]
    assert params["beta"]["REF"] == "v2" and "REF" not in params["alpha"]  # default branch: no REF
    assert params["gamma"]["CCCI_RECIPE_URL_TEMPLATE"] == "https://git.example.org/coop-cloud/{name}.git"
    for query in params.values():
        assert query["STAGES"] == "install,upgrade" and query["branch"] == "main"
        assert "CCCI_CATALOGUE" not in query  # unmarked: a runner refuses a mark it cannot check; the badge reads the history
        assert not {"CCCI_RUNS_DIR", "CCCI_DOCKER_HOST", "PR", "UPGRADE_FROM"} & set(query)
    found = History(history)
    try:
        rows = {row.recipe: row for row in found.matrix(found.latest_run().id)}  # type: ignore[union-attr]
    finally:
        found.close()
    assert {name: (r.level, r.verdict, r.commit, r.target, r.change) for name, r in rows.items()} == {
        "alpha": (2, "pass", "a" * 40, "drone", "new"),
        "beta": (1, "fail", "b" * 40, "drone", "new"),
        "gamma": (2, "pass", "c" * 40, "drone", "new"),
    }
    assert rows["beta"].error == "upgrade: the app did not answer"
    assert rows["alpha"].run_id == params["alpha"]["CCCI_RUN_ID"]
    assert rows["alpha"].run_dir == "/var/lib/cc-ci/runs/x"  # on the runner, as the pipeline said


def test_a_build_without_a_result_line_is_an_error_naming_the_build(
        tmp_path: Path, forge: StandinForge, drone: StandinDrone, fake_runs: FakeRuns, bridge_env: None) -> None:
    bridge, history = _drone_bridge(tmp_path, forge, drone, fake_runs, [{"name": "alpha"}], capacity=1)
    runners = Runners(drone, wait_for=1, answer={"alpha": ("error", "CCCI-VERDICT: error\nThe run wrote no summary.md.\n")})
    try:
        assert bridge.nightly is not None and bridge.nightly.tick() is None
        bridge.nightly.tick()
    finally:
        runners.stop()
        bridge.stop()
    found = History(history)
    try:
        (row,) = found.matrix(found.latest_run().id)  # type: ignore[union-attr]
    finally:
        found.close()
    assert (row.level, row.verdict) == (0, "error")
    assert row.error is not None and f"Drone build {drone.url}/{CI_REPO}/1: no result of the run" in row.error


def test_a_local_path_recipe_is_refused_for_drone_without_a_build(tmp_path: Path) -> None:
    from runner.bridge.nightly.drone import DroneRuns

    class NoDrone:
        def create_build(self, params: dict[str, str]) -> int:
            raise AssertionError("no build for a path the runner cannot see")

    outcome = DroneRuns(NoDrone(), 60).run(  # type: ignore[arg-type]
        CatalogueRecipe(name="mine", repo=str(tmp_path)), "", "install")
    assert outcome.verdict == "error" and "Drone's runners cannot clone" in (outcome.error or "")


def test_build_params_are_the_runs_env_less_the_runners_own() -> None:
    recipe = CatalogueRecipe(name="gamma", repo="https://git.example.org/coop-cloud/gamma", stages="install")
    assert build_params(recipe, "abc123", "install", "run-1") == {
        "STAGES": "install", "CCCI_RUN_ID": "run-1", "RECIPE": "gamma", "REF": "abc123",
        "CCCI_RECIPE_URL_TEMPLATE": "https://git.example.org/coop-cloud/{name}"}


def test_the_result_line_is_for_the_catalogue_not_the_pr_comment() -> None:
    text = _result_log("fail", 1, "b" * 40, "boom")
    assert parse_result_line(text) == {"verdict": "fail", "level": 1, "commit": "b" * 40, "error": "boom",
                                       "run_dir": "/var/lib/cc-ci/runs/x"}
    assert parse_summary_log(text) == ("fail", "## summary")
    assert parse_result_line("CCCI-RESULT: {not json\n") is None and parse_result_line("x\n") is None


def _step(name: str) -> list[str]:
    pipeline = yaml.safe_load(PIPELINE.read_text())
    return next(step for step in pipeline["steps"] if step["name"] == name)["commands"]


def test_the_shipped_pipeline_prints_the_result_line_from_results_json(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "run-1"
    run_dir.mkdir(parents=True)
    (run_dir / "results.json").write_text(json.dumps({"verdict": "fail", "level": 1, "head_commit": "b" * 40,
                                                      "error": "upgrade: boom", "exit_code": 1}))
    (run_dir / "summary.md").write_text("## the summary\n")
    env = {"PATH": "/usr/bin:/bin", "CCCI_RUNS_DIR": str(tmp_path / "runs"), "CCCI_RUN_ID": "run-1"}
    done = subprocess.run(["sh", "-c", "\n".join(_step("summary"))], cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=True)
    assert parse_result_line(done.stdout) == {"verdict": "fail", "level": 1, "commit": "b" * 40,
                                              "error": "upgrade: boom", "run_dir": str(run_dir)}
    assert parse_summary_log(done.stdout) == ("fail", "## the summary")


def test_the_shipped_pipeline_takes_a_catalogue_build_without_ref_but_not_a_pr_without_one(tmp_path: Path) -> None:
    check = _step("run")[0]
    base = {"PATH": "/usr/bin:/bin", "RECIPE": "alpha", "CCCI_RUN_ID": "run-1"}
    assert subprocess.run(["sh", "-c", check], env=base, capture_output=True).returncode == 0
    refused = subprocess.run(["sh", "-c", check], env=base | {"PR": "7"}, capture_output=True, text=True)
    assert refused.returncode == 2 and "REF with PR" in refused.stdout
    assert subprocess.run(["sh", "-c", check], env=base | {"PR": "7", "REF": "abc"}).returncode == 0
