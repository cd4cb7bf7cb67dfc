"""restore: the backup op's snapshot back into the live volumes, then wait for convergence."""

from __future__ import annotations

from runner.harness.opstate import OpRecord
from runner.ops.backup import backup_capability
from runner.ops.base import Op, OpContext


class Restore(Op):
    name = "restore"
    converges = True

    def skip_reason(self, ctx: OpContext) -> str | None:
        backup = ctx.state.get("backup")
        if backup is None or backup.snapshot is None:
            return backup_capability(ctx) or "the backup op took no snapshot"
        return None

    def perform(self, ctx: OpContext) -> OpRecord:
        app = ctx.live_app
        snapshot = ctx.state["backup"].snapshot
        assert snapshot is not None
        ctx.say(f"restoring snapshot {snapshot.id[:8]} into {app.stack}")
        record = ctx.driver.restore(app, snapshot)
        ctx.say(f"restored {record.files} file(s) into {', '.join(record.volumes)} in {record.duration_s:.1f}s")
        return OpRecord(op=self.name, restore=record, deploy_count=app.deploy_count)
