"""Seed hooks for notes-tiny: notes in the database's volume, written right before an op, so the
overlays can tell that data survived it (upgrade), was taken (backup) and came back (restore),
while the database keeps writing its own files next to them."""

from __future__ import annotations

import secrets
from typing import Any

NOTES = "/var/lib/db/notes"  # in the `data` volume


def _write_note(ctx: Any, name: str, text: str) -> None:
    ctx.exec_in("db", ["sh", "-c", f"mkdir -p {NOTES} && printf %s '{text}' > {NOTES}/{name}"])


def pre_upgrade(ctx: Any) -> dict[str, str]:
    note = f"before-upgrade-{secrets.token_hex(8)}"
    _write_note(ctx, "upgrade.txt", note)
    return {"note": note}


def pre_backup(ctx: Any) -> dict[str, str]:
    note = f"before-backup-{secrets.token_hex(8)}"
    _write_note(ctx, "backup.txt", note)
    return {"note": note}


def pre_restore(ctx: Any) -> dict[str, str]:
    """A change after the backup: restore must undo it."""
    changed = f"after-backup-{secrets.token_hex(8)}"
    _write_note(ctx, "backup.txt", changed)
    return {"changed": changed}
