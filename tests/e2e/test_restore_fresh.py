"""Restore onto a fresh app, on the local swarm: the example's snapshot restored into a second
app of the PR head passes the restore floor and overlay there; a restore op that skips a volume
fails it; nothing of either app is left."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from runner.ops import LIFECYCLE, REGISTRY, OpContext
from runner.ops.restore_fresh import FreshRestoreRecord, RestoreFresh
from runner.orchestrator import Run
from runner.run.app import App
from runner.run.config import RunConfig
from runner.run.opstate import RestoreRecord, Snapshot
from tests.e2e.conftest import SUITE_DOMAIN_BASE
from tests.e2e.support import RunOutcome, suite_objects, tier

pytestmark = pytest.mark.e2e

STAGES = "install,backup,restore-fresh"


def test_the_examples_snapshot_restored_onto_a_fresh_app_passes_there(run_ci) -> None:  # type: ignore[no-untyped-def]
    outcome: RunOutcome = run_ci(RECIPE="custom-html-tiny", STAGES=STAGES)
    assert outcome.returncode == 0, outcome.stderr
    results = outcome.results
    fresh = tier(results, "restore-fresh")
    assert fresh["verdict"] == "pass" and fresh["counts"]["passed"] == 11, fresh  # floor 9, overlay 2
    assert results["apps"] == 2 and results["deploy_count"] == 1
    install, again = results["deployments"]
    assert (install["op"], again["op"]) == ("install", "restore-fresh")
    assert again["commit"] == results["head_commit"]
    (run_dir,) = outcome.run_dirs
    app = App.from_description(json.loads((run_dir / "apps" / "fresh" / "app.json").read_text()))
    assert app.stack != results["stack"] and app.deploy_count == 1
    assert "restore-fresh tier: test_restore.py, test_restore_fresh.py, custom-html-tiny/test_restore.py" \
        in outcome.stderr  # the recipe's restore overlay, on the fresh app
    assert f"tearing down {app.stack}" in outcome.stderr and f"tearing down {results['stack']}" in outcome.stderr
    assert results["teardown_leftovers"] == []
    assert [o for o in suite_objects() if results["stack"] in o or app.stack in o] == []


class SkipsAVolume(RestoreFresh):
    """A broken restore-fresh: it writes the snapshot back without one of its volumes."""

    def perform(self, ctx: OpContext) -> FreshRestoreRecord:
        restore = ctx.driver.restore

        def skipping(app: App, snapshot: Snapshot) -> RestoreRecord:
            skipped = sorted(snapshot.volumes)[0]
            return restore(app, snapshot.model_copy(
                update={"volumes": {v: p for v, p in snapshot.volumes.items() if v != skipped}}))

        ctx.driver.restore = skipping  # type: ignore[method-assign]
        try:
            return super().perform(ctx)
        finally:
            del ctx.driver.restore


def test_a_restore_that_skips_a_volume_fails_on_the_fresh_app(tmp_path: Path) -> None:
    config = RunConfig.from_env({"RECIPE": "custom-html-tiny", "STAGES": STAGES,
                                 "CCCI_RUNS_DIR": str(tmp_path / "runs"), "CCCI_DOMAIN_BASE": SUITE_DOMAIN_BASE},
                                LIFECYCLE)
    with (tmp_path / "console.log").open("w") as log:
        result = Run(config, console=Console(file=log), ops={**REGISTRY, "restore-fresh": SkipsAVolume()}).execute()
    assert result.exit_code == 1
    assert tier(json.loads(json.dumps(result.to_json())), "restore-fresh")["verdict"] == "fail"
    tier_log = (Path(result.run_dir) / "logs" / "tier-restore-fresh.log").read_text()
    assert "FAILED tests/_generic/test_restore.py::test_the_restore_wrote_back_the_backups_snapshot" in tier_log
    assert "FAILED tests/_generic/test_restore.py::test_every_witness_is_back_byte_identical" in tier_log
    assert "FAILED tests/custom-html-tiny/test_restore.py::test_the_marker_from_before_the_backup_is_back" in tier_log
    assert result.apps == 2 and result.teardown_leftovers == []
