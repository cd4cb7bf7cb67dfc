"""restore: the backup op's snapshot back into the live volumes, read back at once, then wait for
convergence."""

from __future__ import annotations

from runner.evidence.proof import few
from runner.ops.backup import BackupRecord, backup_capability
from runner.ops.base import Op, OpContext
from runner.run.app import App
from runner.run.lifecycle import OpSpec
from runner.run.opstate import OpRecord, RestoreRecord, Snapshot


class RestoreOpRecord(OpRecord):
    restore: RestoreRecord | None = None


class Restore(Op):
    spec = OpSpec("restore", after=("backup",), needs=("install", "backup"), rung=3, record=RestoreOpRecord,
                  deploys=True, summary="the backup's snapshot back into the live volumes")

    def skip_reason(self, ctx: OpContext) -> str | None:
        backup = ctx.state.of("backup", BackupRecord)
        if backup is None or backup.snapshot is None:
            took_none = f"the backup took no snapshot: {backup.no_snapshot}" if backup and backup.no_snapshot \
                else "the backup op took no snapshot"
            return backup_capability(ctx) or took_none
        return None

    def perform(self, ctx: OpContext) -> RestoreOpRecord:
        app = ctx.live_app
        backup = ctx.state.of("backup", BackupRecord)
        snapshot = backup.snapshot if backup else None
        assert snapshot is not None
        record, notes = restore_into(ctx, self.name, app, snapshot)
        return RestoreOpRecord(op=self.name, restore=record, notes=notes, deploy_count=app.deploy_count)


def restore_into(ctx: OpContext, op: str, app: App, snapshot: Snapshot, which: str = "") -> tuple[RestoreRecord, list[str]]:
    """The snapshot written into `app` by the driver, with the console's account of it; the
    record and its notes (files the app changed after the restore: never a failure). `which`
    names the app in the console (`the fresh app `)."""
    ctx.say(f"restoring snapshot {snapshot.id[:8]} into {which}{app.stack}")
    record = ctx.driver.restore(app, snapshot)
    into = f"{', '.join(record.volumes)}" + (f" of {app.stack}" if which else "")
    ctx.say(f"restored {record.files} file(s) into {into} in {record.duration_s:.1f}s; "
            f"read back at once: {record.verified} as taken" + (
                f", {len(record.mismatched)} NOT as taken" if record.mismatched else ""))
    notes = [f"changed by the app after the restore: {few(record.changed_by_app)}"] if record.changed_by_app else []
    for note in notes:
        ctx.say(f"{op}: {note}")
    return record, notes
