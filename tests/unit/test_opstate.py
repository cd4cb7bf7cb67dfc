"""Op state as assertion files read it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.ops import LIFECYCLE
from runner.ops.install import InstallRecord
from runner.ops.upgrade import UpgradePlan
from runner.run.opstate import OpNotRun, OpRecord, OpState, fresh_plans

TOP = ["run_id", "recipe", "head_commit", "stages", "base", "base_reason", "hops", "skipped_releases", "ops"]


def test_reading_an_op_that_did_not_run_says_so_with_the_stages() -> None:
    state = OpState(run_id="r", recipe="x", head_commit="0" * 40, stages=["install", "upgrade"],
                    ops={"install": OpRecord(op="install")})
    assert state["install"].op == "install"
    with pytest.raises(OpNotRun) as raised:
        state["backup"]
    assert str(raised.value).startswith("op 'backup' did not run in this run (STAGES=install,upgrade)")
    with pytest.raises(KeyError):  # still a KeyError for code that catches one
        state["backup"]


def test_the_upgrade_plan_stands_at_the_top_of_op_state_json_where_assertion_files_read_it(tmp_path: Path) -> None:
    state = OpState(run_id="r", recipe="x", head_commit="0" * 40, stages=["install", "upgrade"],
                    plans=fresh_plans(LIFECYCLE.records), ops={"install": InstallRecord(op="install")})
    state.plans["upgrade"] = UpgradePlan(base="1.0.0+1.0", base_reason="the newest release before the head",
                                         hops=["1.1.0+1.1"], skipped_releases={"1.0.5+1.0": "no .env.sample"})
    state.save(tmp_path / "op_state.json")
    data = json.loads((tmp_path / "op_state.json").read_text())
    assert list(data) == TOP
    assert (data["base"], data["hops"], data["skipped_releases"]) == ("1.0.0+1.0", ["1.1.0+1.1"],
                                                                       {"1.0.5+1.0": "no .env.sample"})
    loaded = OpState.load(tmp_path / "op_state.json", LIFECYCLE.records)
    assert (loaded.base, loaded.hops, loaded.first_ref) == ("1.0.0+1.0", ["1.1.0+1.1"], "1.0.0+1.0")
    loaded.save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == (tmp_path / "op_state.json").read_bytes()


def test_a_run_that_does_not_upgrade_still_writes_the_plan_fields_empty(tmp_path: Path) -> None:
    state = OpState(run_id="r", recipe="x", head_commit="0" * 40, stages=["install"],
                    plans=fresh_plans(LIFECYCLE.records))
    state.save(tmp_path / "op_state.json")
    data = json.loads((tmp_path / "op_state.json").read_text())
    assert list(data) == TOP and (data["base"], data["base_reason"], data["hops"], data["skipped_releases"]) == \
        (None, None, [], {})
    assert state.first_ref == "0" * 40 and state.base is None
    with pytest.raises(AttributeError):
        state.nothing  # noqa: B018 - only the plans' fields read as the state's own
