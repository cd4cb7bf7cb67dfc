"""What a run may choose among: the drivers (`CCCI_DRIVER`) and the targets (`CCCI_DOCKER_HOST`).

Adding a driver or a target is one module and one line here. The tables sit in the run's model,
below the drivers and targets they name, because RunConfig validates a run's choice against them
before anything is created; `runner/drivers` and `runner/targets` import each class from them
only when it is chosen (`create_driver`, `open_target`)."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TargetEntry:
    where: str  # "module:Class", imported only when chosen
    address: str | None  # the CCCI_DOCKER_HOST (a regex, matched whole) that chooses it; None: never chosen so
    form: str = ""  # how that address is spelled to a user (error messages, docs)


# name -> "module:Class"
DRIVERS = {
    "swarm": "runner.drivers.swarm.driver:SwarmDriver",
    "abra": "runner.drivers.abra.driver:AbraDriver",
}

# kind -> where it is, and the CCCI_DOCKER_HOST that chooses it (first match wins)
TARGETS = {
    "local": TargetEntry("runner.targets.local:LocalTarget", r"local", "`local`"),
    "ssh": TargetEntry("runner.targets.ssh:SshTarget", r"ssh://.+", "ssh://user@host[:port]"),
    # the ssh target, seen from a tier's process (`attach_target`)
    "forwarded": TargetEntry("runner.targets.forward:ForwardedTarget", None),
}


def load(where: str) -> Any:
    """The class a registry line names ("module:Class"), its module imported now."""
    module_name, class_name = where.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def unknown_driver(name: str) -> str | None:
    """Why `name` is no driver (naming the choices, as a Literal's error did), else None."""
    if name in DRIVERS:
        return None
    quoted = [repr(choice) for choice in DRIVERS]
    return f"Input should be {_either(quoted, 'or')}"


def target_kind(docker_host: str) -> str | None:
    """The target `docker_host` chooses, None when it names none."""
    return next((kind for kind, entry in TARGETS.items()
                 if entry.address is not None and re.fullmatch(entry.address, docker_host)), None)


def docker_host_forms() -> str:
    """What CCCI_DOCKER_HOST may be: `local`, or ssh://user@host[:port]."""
    return _either([entry.form for entry in TARGETS.values() if entry.address is not None], "or")


def unknown_docker_host(docker_host: str) -> str | None:
    """Why `docker_host` chooses no target, else None."""
    if target_kind(docker_host) is not None:
        return None
    forms = [entry.form for entry in TARGETS.values() if entry.address is not None]
    return f"{docker_host!r} is {'neither ' + _either(forms, 'nor') if len(forms) > 1 else 'not ' + forms[0]}"


def _either(choices: list[str], word: str) -> str:
    """`a`, `a or b`, `a, b or c` (pydantic's wording for a Literal's choices)."""
    return choices[0] if len(choices) == 1 else f"{', '.join(choices[:-1])} {word} {choices[-1]}"
