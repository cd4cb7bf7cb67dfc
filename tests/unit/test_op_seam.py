"""The op seam: an op is one module. Everything about it (order, needs, rung, record model, floor,
whether it deploys) is its own declaration, and a run built with one more op runs it in order,
puts it on the ladder and in the results, with no other file touched."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from runner.errors import BadInput
from runner.ops import LIFECYCLE, REGISTRY, Op, OpContext, lifecycle_of
from runner.orchestrator import Run
from runner.recipe.repos import bundled_recipe_repo
from runner.run.config import RunConfig
from runner.run.lifecycle import Lifecycle, OpSpec
from runner.run.opstate import OpRecord, OpState
from tests.unit.fake_driver import FakeDriver
from tests.unit.test_orchestrator import Tiers

# --- the new op, in one "module": this block is all it takes ------------------------------------


class ProbeRecord(OpRecord):
    probed: list[str] = []  # its own field in op_state.json


class Probe(Op):
    """Between backup and restore; brings in backup; a rung of its own after custom."""

    spec = OpSpec("probe", after=("backup",), before=("restore",), needs=("backup",), rung=6,
                  record=ProbeRecord, overlays=("probe_*.py",), generic=("test_probe.py",))

    def perform(self, ctx: OpContext) -> ProbeRecord:
        ctx.say("probing")
        return ProbeRecord(op=self.name, probed=sorted(ctx.state.ops), deploy_count=ctx.live_app.deploy_count)

# -------------------------------------------------------------------------------------------------


# the ops this test was written against (ops added later through the seam are left out, so that
# its expected order stays the one below)
OPS = {**{name: REGISTRY[name] for name in ("lint", "install", "upgrade", "backup", "restore", "custom")},
       "probe": Probe()}
WITH_PROBE = lifecycle_of(OPS.values())


def _run(tmp_path: Path, tests_dir: Path, stages: str, expected_na: str = "") -> tuple[Run, FakeDriver, Tiers]:
    bundled_recipe_repo("custom-html-tiny")
    if expected_na:
        (tests_dir / "custom-html-tiny" / "recipe_meta.py").write_text(f"EXPECTED_NA = {expected_na}\n")
    config = RunConfig.from_env({"RECIPE": "custom-html-tiny", "CCCI_RUNS_DIR": str(tmp_path / "runs"),
                                 "STAGES": stages}, WITH_PROBE)
    driver, tiers = FakeDriver(), Tiers()

    def factory(config: RunConfig, say: Callable[[str], None]) -> FakeDriver:
        driver.settings = config.driver_settings
        return driver
    run = Run(config, console=Console(file=io.StringIO()), driver_factory=factory, ops=OPS,
              tests_dir=tests_dir, tier_runner=tiers)
    run.execute()
    return run, driver, tiers


def test_a_new_op_declared_in_one_module_runs_in_order_on_the_ladder_and_in_results(
        tmp_path: Path, overlays: Path) -> None:
    (overlays / "_generic" / "test_probe.py").write_text("def test_probed(): pass\n")
    (overlays / "custom-html-tiny" / "probe_extra.py").write_text("def test_more(): pass\n")
    run, driver, tiers = _run(tmp_path, overlays, "probe,custom")
    result = run.result
    assert [t.op for t in result.tiers] == ["lint", "install", "upgrade", "backup", "probe", "restore", "custom"]
    assert [(t.op, t.verdict) for t in result.tiers if t.verdict != "skip"] == [
        ("install", "pass"), ("backup", "pass"), ("probe", "pass"), ("custom", "pass")]
    assert driver.calls == ["new_app", f"deploy {(result.head_commit or '')[:8]}", "backup", "teardown"]
    assert tiers.files["probe"] == ["_generic/test_probe.py", "custom-html-tiny/probe_extra.py"]
    assert [rung.name for rung in result.ladder.rungs] == ["install", "upgrade", "backup+restore", "custom", "lint",
                                                            "probe"]
    saved = json.loads(run.run_dir.results.read_text())
    assert saved["ladder"][5] == {"level": 6, "name": "probe", "state": "pass", "climbed": False,
                                  "reason": None}  # upgrade was not asked for: the climb stopped at L2
    state = OpState.load(run.run_dir.op_state, WITH_PROBE.records)
    probe = state.of("probe", ProbeRecord)
    assert probe is not None and probe.probed == ["backup", "install"]  # read back by its own model


def test_expected_na_and_stages_read_the_new_op_from_its_declaration(tmp_path: Path, overlays: Path) -> None:
    run, _, _ = _run(tmp_path, overlays, "probe", expected_na='{"probe": "nothing to probe"}')
    probe = next(t for t in run.result.tiers if t.op == "probe")
    assert (probe.verdict, probe.error) == ("skip", "expected n/a: nothing to probe")
    with pytest.raises(BadInput, match="unknown stage 'probe'"):  # the shipped lifecycle has no probe
        RunConfig.from_env({"RECIPE": "custom-html-tiny", "STAGES": "probe"}, LIFECYCLE)


def test_the_lifecycle_orders_by_declarations_and_closes_over_needs() -> None:
    assert WITH_PROBE.names == ("lint", "install", "upgrade", "backup", "probe", "restore", "custom")
    assert WITH_PROBE.stages(["probe"]) == ("install", "backup", "probe")
    assert WITH_PROBE.records["probe"] is ProbeRecord and WITH_PROBE.records["backup"].__name__ == "BackupRecord"
    assert LIFECYCLE.rungs == (("install", ("install",)), ("upgrade", ("upgrade",)),
                               ("backup+restore", ("backup", "restore")), ("custom", ("custom",)), ("lint", ("lint",)))
    assert LIFECYCLE.default_stages == ("lint", "install", "idempotent")  # both cheap: on by default


@pytest.mark.parametrize(("specs", "why"), [
    ([OpSpec("a", after=("b",)), OpSpec("b", after=("a",))], "circle"),
    ([OpSpec("a", needs=("nowhere",))], "needs 'nowhere'"),
    ([OpSpec("a", rung=1), OpSpec("b", rung=3)], "without a gap"),
    ([OpSpec("a"), OpSpec("a")], "share a name"),
])
def test_a_lifecycle_that_cannot_hold_is_refused(specs: list[OpSpec], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        Lifecycle(specs)


def test_an_op_record_refuses_another_ops_field() -> None:
    with pytest.raises(ValueError, match="snapshot"):
        OpRecord(op="install", snapshot=None)  # type: ignore[call-arg]
