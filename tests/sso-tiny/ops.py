"""sso-tiny's provisioning hook (issue 26): each dependent run gets a realm of its own, with one
confidential client and one user, so runs that share the provider never see each other's users,
codes or tokens. What it returns is what a dependent needs (docs/enroll-recipe.md, dependencies);
the harness masks every value but the issuer URL in every output."""

from __future__ import annotations

import re
import secrets
from typing import Any

USER = "ada"  # the realm's one user; its password is the secret


def realm_for(for_run: str) -> str:
    """The run's realm: its run id, in the characters sso-tiny allows in a path."""
    return "run-" + re.sub(r"[^a-z0-9-]+", "-", for_run.lower()).strip("-")[-48:]


def provision(ctx: Any, for_run: str) -> dict[str, str]:
    realm = realm_for(for_run)
    # the issuer as the dependent's containers reach it: the service's name on the shared `proxy`
    # network (the harness deploys with endpoint_mode dnsrr where service VIPs do not answer)
    issuer = f"http://{ctx.service_address('app')}/realms/{realm}"
    given = {
        "issuer": issuer,  # public: shown in logs; the realm is its last part
        "client_id": f"client-{secrets.token_hex(6)}",  # masked like the rest, so never an ordinary word
        "client_secret": secrets.token_urlsafe(24),
        "username": USER,
        "password": secrets.token_urlsafe(18),
    }
    ctx.exec_in("app", ["sso-admin", "realm", realm, issuer, given["client_id"], given["client_secret"],
                        given["username"], given["password"]])
    return given
