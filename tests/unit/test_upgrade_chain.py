"""Upgrade chains (UPGRADE_FROM) with the fake driver: the oldest release installed once, then each
newer release and the head upgraded in place, a tier row per hop, a failing hop stopping the chain
and naming itself, unreadable releases left out with why."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from runner.errors import BadInput, ConvergenceError
from runner.ops import LIFECYCLE
from runner.ops.upgrade import UpgradeRecord
from runner.orchestrator import Run
from runner.recipe import git
from runner.recipe.versions import upgrade_chain
from runner.record.results import RunResult
from runner.run.config import RunConfig
from runner.run.opstate import OpState
from tests.unit.fake_driver import FakeDriver
from tests.unit.test_orchestrator import Tiers

RELEASES = ["1.0.0+1.0", "1.1.0+1.1", "1.2.0+1.2"]


def _run(tmp_path: Path, overlays: Path, repo: Path, driver: FakeDriver, tiers: Tiers | None = None,
         **env: str) -> tuple[RunResult, Run]:
    config = RunConfig.from_env({"RECIPE": str(repo), "CCCI_RUNS_DIR": str(tmp_path / "runs"),
                                 "STAGES": "upgrade,backup", **env}, LIFECYCLE)

    def factory(config: RunConfig, say: Callable[[str], None]) -> FakeDriver:
        driver.settings = config.driver_settings
        return driver
    run = Run(config, console=Console(file=io.StringIO()), driver_factory=factory, tests_dir=overlays,
              tier_runner=tiers or Tiers())
    return run.execute(), run


def _rows(result: RunResult) -> list[tuple[str, str]]:
    return [(t.op, t.verdict) for t in result.tiers if t.op.startswith("upgrade")]


def test_upgrade_from_all_installs_the_oldest_and_hops_through_every_release_to_the_head(
        tmp_path: Path, overlays: Path, make_recipe: Callable[..., Path]) -> None:
    repo = make_recipe(tags=RELEASES, head_label="1.3.0+1.3")
    head = git.rev_parse(repo, "HEAD")[:8]
    driver = FakeDriver()
    result, run = _run(tmp_path, overlays, repo, driver, UPGRADE_FROM="all")
    assert driver.calls[:5] == ["new_app", "deploy 1.0.0+1.0", "deploy 1.1.0+1.1", "deploy 1.2.0+1.2", f"upgrade {head}"]
    assert _rows(result) == [("upgrade@1.1.0+1.1", "pass"), ("upgrade@1.2.0+1.2", "pass"), ("upgrade", "pass")]
    assert result.deploy_count == 1 and result.base == "1.0.0+1.0"
    assert [d["op"] for d in result.deployments] == ["install", "upgrade@1.1.0+1.1", "upgrade@1.2.0+1.2", "upgrade"]
    state = OpState.load(run.run_dir.op_state, LIFECYCLE.records)
    last = state.of("upgrade", UpgradeRecord)
    assert last is not None and (last.hop_from, last.hop_to) == ("1.2.0+1.2", None)  # the floor reads the last hop
    middle = state.of("upgrade@1.1.0+1.1", UpgradeRecord)
    assert middle is not None and (middle.hop_from, middle.hop_to) == ("1.0.0+1.0", "1.1.0+1.1")
    assert state.hops == ["1.1.0+1.1", "1.2.0+1.2"] and result.ladder.rungs[1].state == "pass"


@pytest.mark.parametrize(("upgrade_from", "deployed"), [
    ("previous", ["deploy 1.2.0+1.2"]),
    ("2", ["deploy 1.1.0+1.1", "deploy 1.2.0+1.2"]),
    ("1.2.0+1.2,1.0.0+1.0", ["deploy 1.0.0+1.0", "deploy 1.2.0+1.2"]),
])
def test_upgrade_from_previous_n_or_a_list_picks_those_releases_oldest_first(
        tmp_path: Path, overlays: Path, make_recipe: Callable[..., Path], upgrade_from: str, deployed: list[str]) -> None:
    repo = make_recipe(tags=RELEASES, head_label="1.3.0+1.3")
    driver = FakeDriver()
    _run(tmp_path, overlays, repo, driver, UPGRADE_FROM=upgrade_from)
    assert [c for c in driver.calls if c.startswith("deploy")] == deployed


def test_a_hop_whose_deploy_fails_stops_the_chain_and_the_upgrade_tier_names_it(
        tmp_path: Path, overlays: Path, make_recipe: Callable[..., Path]) -> None:
    repo = make_recipe(tags=RELEASES, head_label="1.3.0+1.3")
    driver = FakeDriver(fail={"deploy 1.1.0+1.1": ConvergenceError("service app did not converge")})
    result, _ = _run(tmp_path, overlays, repo, driver, UPGRADE_FROM="all")
    assert "deploy 1.2.0+1.2" not in driver.calls and not any(c.startswith("upgrade") for c in driver.calls)
    assert _rows(result) == [("upgrade@1.1.0+1.1", "error"), ("upgrade", "error")]
    upgrade = next(t for t in result.tiers if t.op == "upgrade")
    assert upgrade.error == "upgrade@1.1.0+1.1 error: the chain stopped there"
    assert result.error == "upgrade@1.1.0+1.1: service app did not converge" and result.exit_code == 3
    assert next(t for t in result.tiers if t.op == "backup").error == "after upgrade failed"


def test_a_hop_whose_tier_fails_stops_the_chain_naming_it(
        tmp_path: Path, overlays: Path, make_recipe: Callable[..., Path]) -> None:
    repo = make_recipe(tags=RELEASES, head_label="1.3.0+1.3")
    driver = FakeDriver()
    result, _ = _run(tmp_path, overlays, repo, driver, Tiers({"upgrade@1.2.0+1.2": "fail"}), UPGRADE_FROM="all")
    assert _rows(result) == [("upgrade@1.1.0+1.1", "pass"), ("upgrade@1.2.0+1.2", "fail"), ("upgrade", "fail")]
    assert not any(c.startswith("upgrade") for c in driver.calls), "the head was never deployed"
    assert result.exit_code == 1 and "stopped at L2 upgrade: upgrade fail — upgrade@1.2.0+1.2 fail" in result.ladder.text()


def test_a_release_whose_compose_cannot_be_read_is_left_out_with_why(
        tmp_path: Path, overlays: Path, make_recipe: Callable[..., Path]) -> None:
    repo = make_recipe(tags=RELEASES, head_label="1.3.0+1.3")
    git.git(repo, "checkout", "-q", "1.1.0+1.1")  # 1.1.1: a release whose compose.yml is not YAML
    (repo / "compose.yml").write_text("services: [unclosed\n")
    git.git(repo, "commit", "-q", "-am", "broken")
    git.git(repo, "tag", "1.1.1+1.1")
    git.git(repo, "checkout", "-q", "main")
    git.git(repo, "merge", "-q", "-s", "ours", "1.1.1+1.1", "-m", "merge")
    driver = FakeDriver()
    result, run = _run(tmp_path, overlays, repo, driver, UPGRADE_FROM="all")
    assert [c for c in driver.calls if c.startswith("deploy")] == ["deploy 1.0.0+1.0", "deploy 1.1.0+1.1",
                                                                     "deploy 1.2.0+1.2"]
    state = json.loads(run.run_dir.op_state.read_text())
    assert state["skipped_releases"]["1.1.1+1.1"].startswith("compose.yml is not YAML")
    assert any("1.1.1+1.1 skipped — compose.yml is not YAML" in note for note in result.notes["upgrade"])


def test_upgrade_from_names_only_release_tags() -> None:
    with pytest.raises(BadInput, match=r"UPGRADE_FROM: '9\.9\.9\+9' is not a release tag"):
        upgrade_chain("9.9.9+9", [], [], ["1.0.0+1.0"], (None, ""))
    with pytest.raises(BadInput, match="UPGRADE_FROM"):
        RunConfig.from_env({"RECIPE": "x", "UPGRADE_FROM": "0"}, LIFECYCLE)
