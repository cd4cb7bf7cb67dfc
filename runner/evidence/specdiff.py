"""What an unchanged redeploy changed, from two readings of the app's services (the idempotence
check): each service's spec field by field, and its running tasks. Pure: the readings come from
`runner/swarm/identity.py`, the verdict from `tests/_generic/test_idempotent.py`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_SHOWN = 80  # characters of a value shown in a change line
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class ServiceReading:
    """One service as the swarm reports it: its spec (docker's `Spec`, as JSON) and the ids of
    its tasks that should be running. Swarm never restarts a container in place: a task that
    restarts is a new task with a new id."""

    id: str
    spec: dict[str, Any] = field(default_factory=dict)
    tasks: tuple[str, ...] = ()


def field_changes(before: Any, after: Any, path: str = "") -> list[str]:
    """`<field path> changed: <old> -> <new>` (or `added: <new>`, `removed (was <old>)`) for every
    leaf of two docker specs that differs, in the spec's order; [] when they are equal. Mappings
    are compared key by key (`Labels["traefik.enable"]`), lists index by index (`Configs[0]`)."""
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        keys = list(before) + [key for key in after if key not in before]
        return [line for key in keys for line in _child(before, after, key, _key_path(path, str(key)))]
    if isinstance(before, list) and isinstance(after, list):
        return [line for i in range(max(len(before), len(after)))
                for line in _child(before, after, i, f"{path}[{i}]")]
    if before == after:
        return []
    return [f"{path or '<spec>'} changed: {_shown(before)} -> {_shown(after)}"]


def _child(before: Any, after: Any, key: Any, path: str) -> list[str]:
    has_before = key in before if isinstance(before, Mapping) else key < len(before)
    has_after = key in after if isinstance(after, Mapping) else key < len(after)
    if not has_before:
        return [f"{path} added: {_shown(after[key])}"]
    if not has_after:
        return [f"{path} removed (was {_shown(before[key])})"]
    return field_changes(before[key], after[key], path)


def _key_path(path: str, key: str) -> str:
    if _NAME.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f'{path}["{key}"]'


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN - 1] + "…"


def spec_changes(before: Mapping[str, ServiceReading], after: Mapping[str, ServiceReading]) -> dict[str, list[str]]:
    """Service name -> what differs between the two readings of its spec (a service that appeared
    or went away, or was created again under a new id, says so); only services that changed."""
    changed: dict[str, list[str]] = {}
    for name in sorted(set(before) | set(after)):
        was, now = before.get(name), after.get(name)
        if was is None:
            changed[name] = ["the service was created by the redeploy"]
        elif now is None:
            changed[name] = ["the service is gone after the redeploy"]
        elif was.id != now.id:
            changed[name] = [f"the service was removed and created again (id {was.id[:12]} -> {now.id[:12]})"]
        elif lines := field_changes(was.spec, now.spec):
            changed[name] = lines
    return changed


def restarted_tasks(before: Mapping[str, ServiceReading], after: Mapping[str, ServiceReading]) -> dict[str, str]:
    """Service name -> which of its running tasks the redeploy replaced; only services present in
    both readings whose running tasks are not the same ones."""
    restarted: dict[str, str] = {}
    for name in sorted(set(before) & set(after)):
        was, now = set(before[name].tasks), set(after[name].tasks)
        if was != now:
            gone, new = sorted(was - now), sorted(now - was)
            restarted[name] = (f"{len(gone)} running task(s) replaced: {', '.join(t[:12] for t in gone) or 'none'} "
                               f"-> {', '.join(t[:12] for t in new) or 'none'}")
    return restarted
