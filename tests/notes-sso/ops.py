"""Seed hooks for notes-sso: a note written through the app's API right before an op, signed in
as the user of this run's realm (`ctx.deps["sso-tiny"]`, what sso-tiny's provision returned), so
the overlays can tell that notes survived the upgrade, were taken by the backup and came back with
the restore."""

from __future__ import annotations

import secrets
from typing import Any


def _add_note(ctx: Any, prefix: str) -> str:
    sso = ctx.deps["sso-tiny"]
    signed_in = ctx.http.post("/cgi-bin/login", data={"username": sso["username"], "password": sso["password"]})
    token = signed_in.cookies.get("notes_session")
    ctx.http.cookies.clear()  # the token goes as a bearer header, never from the client's jar
    if signed_in.status_code != 303 or not token:
        raise RuntimeError(f"signing in to notes-sso as {sso['username']} answered {signed_in.status_code}")
    note = f"{prefix}-{secrets.token_hex(8)}"
    added = ctx.http.post("/cgi-bin/notes", data={"text": note}, headers={"Authorization": f"Bearer {token}"})
    if added.status_code != 201:
        raise RuntimeError(f"adding a note answered {added.status_code}")
    return note


def pre_upgrade(ctx: Any) -> dict[str, str]:
    return {"note": _add_note(ctx, "before-upgrade")}


def pre_backup(ctx: Any) -> dict[str, str]:
    return {"note": _add_note(ctx, "before-backup")}


def pre_restore(ctx: Any) -> dict[str, str]:
    """A note added after the backup: the restore must undo it."""
    return {"changed": _add_note(ctx, "after-backup")}
