"""custom: the recipe's functional tests (`tests/<recipe>/custom/test_*.py`), once, after the
other ops. Assertion-only: nothing is performed on the app."""

from __future__ import annotations

from pathlib import Path

from runner.ops.base import Op, OpContext
from runner.run.lifecycle import OpSpec
from runner.run.opstate import OpRecord


class Custom(Op):
    spec = OpSpec("custom", after=("restore",), needs=("install",), rung=4,
                  generic=(), overlays=("custom/test_*.py",), summary="the recipe's functional tests")

    def skip_reason(self, ctx: OpContext) -> str | None:
        if not self.overlay_files(ctx.overlay_dir):
            where = ctx.config.overlay_dir or Path("tests") / ctx.config.recipe_name  # the maintainer's, not the run's copy
            return f"the recipe has no custom tests ({where}/custom/test_*.py)"
        return None

    def perform(self, ctx: OpContext) -> OpRecord:
        return OpRecord(op=self.name, deploy_count=ctx.live_app.deploy_count)
