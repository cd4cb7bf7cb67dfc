"""backup: what backup-bot-two would take of the app, as a restic snapshot and a .tar.gz export,
with the harness's witness files planted before it (unless the recipe opts out)."""

from __future__ import annotations

from runner.errors import InfraError
from runner.evidence.proof import few
from runner.ops.base import Op, OpContext
from runner.recipe.backupbot import NoSnapshot
from runner.run.lifecycle import OpSpec
from runner.run.opstate import OpRecord, Snapshot, Witness
from runner.swarm.backup import Restic


class BackupRecord(OpRecord):
    snapshot: Snapshot | None = None
    no_snapshot: str | None = None  # why the backup took no snapshot (a recipe finding its floor reports)

    def planted(self) -> list[Witness]:
        return [*self.witnesses, *(self.snapshot.witnesses if self.snapshot else [])]


class Backup(Op):
    spec = OpSpec("backup", after=("upgrade",), needs=("install",), rung=3, record=BackupRecord,
                  summary="a restic snapshot of what backup-bot-two would take")

    def ahead(self, ctx: OpContext) -> None:
        if ctx.meta.BACKUP_CAPABLE is not False:  # the repository's key derivation, ~2.5 s, niced
            Restic.for_run(ctx.live_app.run_files).init_ahead()

    def skip_reason(self, ctx: OpContext) -> str | None:
        return backup_capability(ctx)

    def perform(self, ctx: OpContext) -> BackupRecord:
        app = ctx.live_app
        ctx.say(f"backing up {app.stack}")
        try:
            snapshot = ctx.driver.backup(app, witnesses=ctx.meta.SKIP_WITNESSES is None)
        except NoSnapshot as found:  # the recipe's doing: the floor reports it, restore skips
            notes = [*found.notes, f"no snapshot: {found.reason}"]
            _say_notes(ctx, notes)
            return BackupRecord(op=self.name, no_snapshot=found.reason, notes=notes, deploy_count=app.deploy_count)
        notes = backup_notes(snapshot)
        _say_notes(ctx, notes)
        taken = ", ".join(f"{vol}{':' + ','.join(paths) if paths else ''}" for vol, paths in snapshot.volumes.items())
        ctx.say(f"snapshot {snapshot.id[:8]}: {len(snapshot.files)} file(s) from {taken or 'no volume'}"
                + (f"; {len(snapshot.witnesses)} witness file(s) planted before it, changed since"
                   if snapshot.witnesses else ""))
        return BackupRecord(op=self.name, snapshot=snapshot, notes=notes, deploy_count=app.deploy_count)


def backup_notes(snapshot: Snapshot) -> list[str]:
    """What the console, results and summary say about the labels: warnings (unknown or
    misspelt keys) and labelled paths that are missing (a fresh install may not have made them
    yet, so not a failure on its own)."""
    missing = [f"labelled path missing, not taken: {few(snapshot.missing)} (a fresh install may not have "
               "created it yet; backup-bot-two would skip it too)"] if snapshot.missing else []
    return [*snapshot.label_notes, *missing]


def _say_notes(ctx: OpContext, notes: list[str]) -> None:
    for note in notes:
        ctx.say(f"backup: {note}")


def backup_capability(ctx: OpContext) -> str | None:
    """Why the app cannot be backed up: BACKUP_CAPABLE, else the driver's reading of the labels.
    A recipe that declares itself capable but has no labels is an error, not a skip."""
    if ctx.meta.BACKUP_CAPABLE is False:
        return "BACKUP_CAPABLE = False in recipe_meta.py"
    unsupported = ctx.target.backup_unsupported(ctx.live_app)
    if unsupported and ctx.meta.BACKUP_CAPABLE:
        raise InfraError(f"BACKUP_CAPABLE = True in recipe_meta.py, but {unsupported}")
    return unsupported
