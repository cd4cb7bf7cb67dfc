"""The restore-fresh floor (`tests/_generic/test_restore_fresh.py`) called with a stubbed run dir
and op state: the fresh app is a second app, deployed once, at the PR head, given the original
app's secret values; each check fails in a sentence naming both apps, the count or the commits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runner.ops.restore_fresh import FreshRestoreRecord
from runner.recipe.envfile import SecretSpec
from runner.run.app import App, Deployment
from runner.run.opstate import OpState, RestoreRecord
from runner.run.rundir import RunDir
from tests.unit.floor.support import load_floor

floor = load_floor("restore_fresh")
OP = "restore-fresh"
HEAD = "a" * 40


def _app(name: str, deploy_count: int = 1) -> App:
    return App(recipe="recipe", run_id="r1", domain=f"{name}.test", stack=f"{name}_test", checkout=Path("/nowhere"),
               run_dir=Path("/nowhere"), env={}, deploy_count=deploy_count)


def _run_dir(tmp_path: Path, original: App) -> RunDir:
    run_dir = RunDir(tmp_path)
    run_dir.app_json.write_text(json.dumps(original.describe()))
    return run_dir


def _state(fresh: App, commit: str = HEAD, deploy_count: int = 1) -> OpState:
    deployed = Deployment(ref=commit, commit=commit, version="1.1.0+1.1", chaos=True, labels={}, duration_s=1.0)
    record = FreshRestoreRecord(op=OP, deployment=deployed, deploy_count=deploy_count, domain=fresh.domain,
                                stack=fresh.stack, restore=RestoreRecord(snapshot_id="s", volumes=[], files=0,
                                                                          duration_s=0.1))
    return OpState(run_id="r1", recipe="recipe", head_commit=HEAD, ops={OP: record})


def _fails(check: Any, *args: Any) -> str:
    with pytest.raises(AssertionError) as failed:
        check(*args)
    return str(failed.value)


def test_a_second_app_deployed_once_at_the_head_passes(tmp_path: Path) -> None:
    fresh, run_dir = _app("fresh"), _run_dir(tmp_path, _app("original"))
    floor.test_the_fresh_app_is_a_second_app(fresh, run_dir, _state(fresh), OP)
    floor.test_the_fresh_app_was_deployed_once(fresh, _state(fresh), OP)
    floor.test_the_fresh_app_runs_the_pr_head(_state(fresh), OP)


def test_the_original_app_again_fails_naming_both(tmp_path: Path) -> None:
    original = _app("original")
    message = _fails(floor.test_the_fresh_app_is_a_second_app, original, _run_dir(tmp_path, original),
                     _state(original), OP)
    assert message == ("the fresh app (stack original_test, domain original.test) is not a second app: the original "
                       "is stack original_test, domain original.test")


def test_a_fresh_app_deployed_twice_fails_with_the_count(tmp_path: Path) -> None:
    fresh = _app("fresh", deploy_count=2)
    assert _fails(floor.test_the_fresh_app_was_deployed_once, fresh, _state(fresh, deploy_count=2), OP) == (
        "the fresh app's stack fresh_test was created 2 times (the op recorded 2), expected once")
    once = _app("fresh")
    assert _fails(floor.test_the_fresh_app_was_deployed_once, once, _state(once, deploy_count=0), OP) == (
        "the fresh app's stack fresh_test was created 1 times (the op recorded 0), expected once")


def test_secrets_generated_anew_are_named() -> None:
    fresh = _app("fresh")
    fresh.secrets = [SecretSpec(name="db_password", version="v1", length=32)]
    assert _fails(floor.test_the_fresh_app_got_the_original_apps_secrets, fresh, _state(fresh), OP) == (
        "an operator restoring onto a new app inserts the old app's secret values; these were generated anew: "
        "db_password v1")


def test_a_fresh_app_at_another_commit_fails_naming_both_commits() -> None:
    fresh = _app("fresh")
    assert _fails(floor.test_the_fresh_app_runs_the_pr_head, _state(fresh, commit="b" * 40), OP) == (
        f"the fresh app runs {'b' * 12}, not the PR head {'a' * 12}")
    none = _state(fresh)
    none.ops[OP] = none.ops[OP].model_copy(update={"deployment": None})
    assert _fails(floor.test_the_fresh_app_runs_the_pr_head, none, OP) == (
        f"the fresh app runs nothing (no deployment recorded), not the PR head {'a' * 12}")
