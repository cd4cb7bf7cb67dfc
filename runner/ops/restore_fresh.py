"""restore-fresh: disaster recovery. A second app of the recipe at the PR head, under a domain of
its own, given the original app's secret values (as an operator restoring would insert them),
gets the backup op's snapshot written into its volumes between its restore hooks; its tier then
asserts on it, as `app`: witnesses, the read-back and the recipe's restore overlay. Opt-in: it
costs a second deploy."""

from __future__ import annotations

from pydantic import Field

from runner.ops.backup import BackupRecord
from runner.ops.base import Op, OpContext
from runner.ops.install import prepare_app_env
from runner.ops.restore import Restore, RestoreOpRecord, restore_into
from runner.run.app import App
from runner.run.lifecycle import OpSpec

FRESH = "fresh"  # the fresh app's name in the run (`App.name`, `<run dir>/apps/fresh/`)


class FreshRestoreRecord(RestoreOpRecord):
    domain: str | None = None  # the fresh app's
    stack: str | None = None
    shared_secrets: list[str] = Field(default_factory=list)  # `<name> <version>` given the original app's values


class RestoreFresh(Op):
    spec = OpSpec("restore-fresh", after=("restore",), needs=("install", "backup"), rung=None,
                  record=FreshRestoreRecord, generic=("test_restore.py", "test_restore_fresh.py"),
                  overlays=("test_restore.py",), deploys=True,
                  summary="the backup's snapshot restored onto a second, fresh app of the PR head")

    def skip_reason(self, ctx: OpContext) -> str | None:
        return Restore().skip_reason(ctx)

    def tier_app(self, ctx: OpContext) -> App:
        return ctx.apps.get(FRESH) or ctx.live_app  # the fresh app once it exists

    def perform(self, ctx: OpContext) -> FreshRestoreRecord:
        original = ctx.live_app
        backup = ctx.state.of("backup", BackupRecord)
        snapshot = backup.snapshot if backup else None
        assert snapshot is not None
        fresh = ctx.new_app(FRESH)
        shared = ctx.driver.share_secrets(original, fresh)
        prepare_app_env(ctx, fresh, ctx.state.head_commit)  # as install's app got it: EXTRA_ENV, DEPS_ENV, install_steps.sh
        ctx.say(f"fresh app {fresh.domain} at the PR head, with the original's values of "
                f"{len(shared)} secret(s)")
        deployment = ctx.driver.deploy(fresh, ctx.state.head_commit)
        record, notes = restore_into(ctx, self.name, fresh, snapshot, which="the fresh app ")
        return FreshRestoreRecord(op=self.name, restore=record, deployment=deployment, notes=notes,
                                  deploy_count=fresh.deploy_count, domain=fresh.domain, stack=fresh.stack,
                                  shared_secrets=shared)
