"""backup: what backup-bot-two would take of the app, as a restic snapshot and a .tar.gz export."""

from __future__ import annotations

from runner.harness.opstate import OpRecord
from runner.ops.base import Op, OpContext


class Backup(Op):
    name = "backup"

    def skip_reason(self, ctx: OpContext) -> str | None:
        return ctx.driver.backup_unsupported(ctx.live_app)

    def perform(self, ctx: OpContext) -> OpRecord:
        app = ctx.live_app
        ctx.say(f"backing up {app.stack}")
        snapshot = ctx.driver.backup(app)
        taken = ", ".join(f"{vol}{':' + ','.join(paths) if paths else ''}" for vol, paths in snapshot.volumes.items())
        ctx.say(f"snapshot {snapshot.id[:8]}: {len(snapshot.files)} file(s) from {taken or 'no volume'}")
        return OpRecord(op=self.name, snapshot=snapshot, deploy_count=app.deploy_count)
