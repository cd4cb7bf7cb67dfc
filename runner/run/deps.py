"""A run's dependencies (issue 26): what was provided of each recipe its `DEPS` names, and the
seam through which the orchestrator asks for them (`DepsProvider`, implemented above it in
`runner/deps/`). What `provision` returned goes to the run's hooks (`ctx.deps`) and tiers (the
`deps` fixture, through `DEPS_VAR`), never into a file of the run dir."""

from __future__ import annotations

import contextlib
import json
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from runner.plumbing.fileio import write_json_atomic
from runner.plumbing.scrub import scrubber
from runner.run.rundir import RunDir

DEPS_VAR = "CCCI_DEPS"  # the tier's `deps` fixture reads it: {"provided": {name: values}, "failed": {name: why}}

Say = Callable[[str], None]


@dataclass
class ProvidedDep:
    """One dependency of the run: the shared app it uses (reused or freshly deployed) and what
    its `provision` returned for this run; or why it could not be provided (`error`)."""

    name: str
    wanted: str | None  # the version DEPS asked for (None: the head of its default branch)
    version: str | None = None  # the version deployed (its deployment's version label)
    reused: bool | None = None  # None: not provided
    provision_s: float | None = None  # how long provisioning took (the deploy's time included when fresh)
    stack: str | None = None
    domain: str | None = None
    run_dir: str | None = None  # the shared app's own run dir: its install and its tier's logs
    error: str | None = None
    values: dict[str, str] = field(default_factory=dict, repr=False)  # never written to a file

    @property
    def provided(self) -> bool:
        return self.error is None

    def result(self) -> dict[str, Any]:
        """Its line of results.json's `deps` (no provisioned value)."""
        return {"name": self.name, "version": self.version or self.wanted,
                "reused": self.reused, "how": ("reused" if self.reused else "fresh") if self.provided else "failed",
                "provision_s": self.provision_s, "stack": self.stack, "domain": self.domain,
                "run_dir": self.run_dir, "error": self.error}


class DepsProvider(Protocol):
    def provide(self, wanted: list[str], target: Any, say: Say) -> contextlib.AbstractContextManager[list[ProvidedDep]]:
        """Each dependency of `wanted` (DEPS's entries) deployed or reused on `target` and
        provisioned for the run, leased for as long as the block runs."""
        ...


def is_public(value: str) -> bool:
    """What `provision` returned that outputs may show: an http(s) URL with no user, password,
    query or fragment (an issuer, an endpoint). Everything else (ids, secrets, user names,
    passwords) is scrubbed from every output, as generated secrets are."""
    try:
        url = urllib.parse.urlsplit(value)
    except ValueError:
        return False
    return (url.scheme in ("http", "https") and bool(url.hostname) and url.username is None
            and url.password is None and not url.query and not url.fragment)


def scrub_provisioned(values: Mapping[str, str]) -> None:
    """Every value that is not public joins the scrubber, before anything can print it."""
    for value in values.values():
        if not is_public(value):
            scrubber.add(value)


def tier_deps_env(deps: list[ProvidedDep]) -> dict[str, str]:
    """What a tier's `deps` fixture and `requires_deps` marker read."""
    if not deps:
        return {}
    return {DEPS_VAR: json.dumps({"provided": {d.name: d.values for d in deps if d.provided},
                                  "failed": {d.name: d.error for d in deps if not d.provided}})}


def mark_released(run_dir: RunDir, now: float) -> None:
    """dep.json: marks a shared dependency's run dir, and says when a run last let it go (gc's idle
    clock starts there)."""
    write_json_atomic(run_dir.dep_json, {"released_at": now})


def released_at(run_dir: RunDir) -> float | None:
    """When a run last let the shared dependency go; None: the run dir is not a shared dependency's."""
    try:
        data = json.loads(run_dir.dep_json.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return 0.0  # damaged: idle since forever (gc still never removes it while leased)
    value = data.get("released_at") if isinstance(data, dict) else None
    return float(value) if isinstance(value, int | float) else 0.0
