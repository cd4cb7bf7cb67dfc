"""Names of runs, apps, stacks and swarm objects. Pure functions, checked against Docker's limits."""

from __future__ import annotations

import hashlib
import re
import secrets
import time

from runner.errors import BadInput

RUN_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,40}$")
MAX_STACK_NAME = 45  # abra's limit on sanitised app names; leaves room for `_<service>` suffixes
MAX_SWARM_OBJECT_NAME = 64  # Docker rejects longer secret and config names
_DOMAIN_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def new_run_id(now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    return f"{stamp}-{secrets.token_hex(3)}"


def run_suffix(run_id: str) -> str:
    """8 hex chars derived from the run id: unique per run, short enough for Docker names."""
    return hashlib.sha256(run_id.encode()).hexdigest()[:8]


def app_domain(recipe: str, run_id: str, domain_base: str, name: str = "") -> str:
    """`<recipe>-<suffix>.<base>`, the recipe part shortened so the stack name fits; a further
    app of the run (`name`, e.g. restore-fresh's `fresh`) gets a suffix of its own."""
    suffix = run_suffix(f"{run_id}/{name}" if name else run_id)
    room = MAX_STACK_NAME - len(suffix) - len(domain_base) - 2
    if room < 1:
        raise BadInput(f"CCCI_DOMAIN_BASE {domain_base!r} is too long; use at most 30 characters")
    slug = re.sub(r"[^a-z0-9-]", "-", recipe.lower())[:room].strip("-") or "app"
    domain = f"{slug}-{suffix}.{domain_base}"
    if not all(_DOMAIN_LABEL.match(label) for label in domain.split(".")):
        raise BadInput(f"{domain!r} is not a valid domain; check CCCI_DOMAIN_BASE")
    return domain


def stack_name(domain: str) -> str:
    """abra's STACK_NAME: the domain with dots replaced by underscores, at most 45 chars."""
    return domain.replace(".", "_")[:MAX_STACK_NAME]


def secret_name(stack: str, name: str, version: str) -> str:
    full = f"{stack}_{name}_{version}"
    if len(full) > MAX_SWARM_OBJECT_NAME:
        raise BadInput(
            f"secret name {full!r} is {len(full)} chars, over Docker's {MAX_SWARM_OBJECT_NAME}; "
            "shorten the secret's name or version in .env.sample"
        )
    return full


_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def shown_ref(ref: str) -> str:
    """A ref as the console shows it: a commit id cut to 12, anything else (a release tag such as
    `2.0.0+1.0.5-social-amd64`, a branch) whole."""
    return ref[:12] if _COMMIT.match(ref) else ref
