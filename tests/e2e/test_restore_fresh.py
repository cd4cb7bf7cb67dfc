"""Restore onto a fresh app, on the local swarm: a restore op that skips a volume fails it; nothing
of either app is left. (That the example's snapshot restored into a second app of the PR head
passes the restore floor and overlay there is asserted on the example's upgrade-chain run, which
goes on through restore-fresh: tests/e2e/test_upgrade_chain.py.)"""

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
from tests.e2e.support import tier

pytestmark = pytest.mark.e2e

STAGES = "install,backup,restore-fresh"


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
