"""Seed hooks for custom-html-tiny: markers in the `content` volume, written right before an op,
so the overlays can tell that data survived it (upgrade), was taken (backup) and came back (restore),
and one right after the install, for the install overlay to find served.
"""

from __future__ import annotations

import secrets
from typing import Any

WEB_ROOT = "/srv/www"  # the `content` volume


def _write(ctx: Any, name: str, text: str) -> None:
    ctx.exec_in("app", ["sh", "-c", f"printf %s '{text}' > {WEB_ROOT}/{name}"])


def post_install(ctx: Any) -> dict[str, str]:
    """A page written once the app runs: the install tier checks the app serves it."""
    marker = f"after-install-{secrets.token_hex(8)}"
    _write(ctx, "install-marker.txt", marker)
    return {"marker": marker}


def pre_upgrade(ctx: Any) -> dict[str, str]:
    marker = f"before-upgrade-{secrets.token_hex(8)}"
    _write(ctx, "upgrade-marker.txt", marker)
    return {"marker": marker}


def pre_backup(ctx: Any) -> dict[str, str]:
    marker = f"before-backup-{secrets.token_hex(8)}"
    _write(ctx, "backup-marker.txt", marker)
    return {"marker": marker}


def pre_restore(ctx: Any) -> dict[str, str]:
    """A change after the backup: restore must undo it."""
    changed = f"after-backup-{secrets.token_hex(8)}"
    _write(ctx, "backup-marker.txt", changed)
    return {"changed": changed}


def pre_custom(ctx: Any) -> dict[str, str]:
    """A stylesheet for the PR's feature (serving .css as text/css) to be checked on."""
    _write(ctx, "site.css", "h1 { color: teal; }")
    return {"stylesheet": "site.css"}
