"""sso-tiny's provisioning hook (issue 26): each dependent run gets a realm of its own, with one
confidential client and one user, so runs that share the provider never see each other's users,
codes or tokens. What it returns is what a dependent needs (docs/enroll-recipe.md, dependencies);
the harness scrubs the secret values from every output."""

from __future__ import annotations

import re
import secrets
from typing import Any

USER = "ada"  # the realm's one user; its password is the secret


def realm_for(for_run: str) -> str:
    """A realm name for a run id, in the characters sso-tiny allows in a path."""
    return "run-" + re.sub(r"[^a-z0-9-]+", "-", for_run.lower()).strip("-")[-48:]


def issuer(stack: str, realm: str) -> str:
    """The realm's issuer as another stack on the `proxy` network reaches it: the service's task
    addresses (`tasks.<service>`), since a service VIP does not answer on every host."""
    return f"http://tasks.{stack}_app/realms/{realm}"


def provision(ctx: Any, for_run: str) -> dict[str, str]:
    realm = realm_for(for_run)
    given = {
        "issuer": issuer(ctx.stack, realm),
        "realm": realm,
        "client_id": f"{realm}-client",
        "client_secret": secrets.token_urlsafe(24),
        "username": USER,
        "password": secrets.token_urlsafe(18),
    }
    ctx.exec_in("app", ["sso-admin", "realm", realm, given["issuer"], given["client_id"],
                        given["client_secret"], given["username"], given["password"]])
    return given
