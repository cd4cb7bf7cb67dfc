"""backup: what backup-bot-two would take of the app, as a restic snapshot and a .tar.gz export."""

from __future__ import annotations

from runner.errors import InfraError
from runner.harness.opstate import OpRecord
from runner.ops.base import Op, OpContext


class Backup(Op):
    name = "backup"

    def skip_reason(self, ctx: OpContext) -> str | None:
        return backup_capability(ctx)

    def perform(self, ctx: OpContext) -> OpRecord:
        app = ctx.live_app
        ctx.say(f"backing up {app.stack}")
        snapshot = ctx.driver.backup(app)
        taken = ", ".join(f"{vol}{':' + ','.join(paths) if paths else ''}" for vol, paths in snapshot.volumes.items())
        ctx.say(f"snapshot {snapshot.id[:8]}: {len(snapshot.files)} file(s) from {taken or 'no volume'}")
        return OpRecord(op=self.name, snapshot=snapshot, deploy_count=app.deploy_count)


def backup_capability(ctx: OpContext) -> str | None:
    """Why the app cannot be backed up: BACKUP_CAPABLE, else the driver's reading of the labels.
    A recipe that declares itself capable but has no labels is an error, not a skip."""
    if ctx.meta.BACKUP_CAPABLE is False:
        return "BACKUP_CAPABLE = False in recipe_meta.py"
    unsupported = ctx.driver.backup_unsupported(ctx.live_app)
    if unsupported and ctx.meta.BACKUP_CAPABLE:
        raise InfraError(f"BACKUP_CAPABLE = True in recipe_meta.py, but {unsupported}")
    return unsupported
