"""A stack on the swarm: its labels, services, removal and what is left of it.

Swarm removes a stack's objects in the background while we look at them, so every call here
treats "already gone" (404, `No such …`) as progress, never as an error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import docker
from docker.errors import APIError, NotFound
from docker.models.services import Service

from runner.errors import CcciError

log = logging.getLogger(__name__)

STACK_LABEL = "com.docker.stack.namespace"
SERVICE_LABEL = "com.docker.swarm.service.name"
RUN_LABEL = "cc-ci.run"
OWNER_STACK_LABEL = "cc-ci.stack"  # on the secrets we create ourselves (they are external to the stack)
RUN_DIR_LABEL = "cc-ci.run-dir"  # where the run's lock lives, so gc finds it whatever runs dir it is given
HOST_LABEL = "cc-ci.host"  # the harness host that made it: gc judges another host's runs by their stamp
TEARDOWN_DEADLINE_S = 120.0
RETRY_S = 0.1  # between teardown passes, while something is still in use

T = TypeVar("T")


def is_gone(err: APIError) -> bool:
    """The object was removed under us (swarm reaping a task's container between list and inspect)."""
    return isinstance(err, NotFound) or err.status_code == 404 or "no such" in str(err.explanation or err).lower()


def unless_gone(call: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """`call(...)`, or None when its object is already gone."""
    try:
        return call(*args, **kwargs)
    except APIError as err:
        if is_gone(err):
            return None
        raise


def run_labels(run_id: str, run_dir: str, host_id: str) -> dict[str, str]:
    """The labels every object of a run carries (services through the deploy, secrets, stamps)."""
    return {RUN_LABEL: run_id, RUN_DIR_LABEL: run_dir, HOST_LABEL: host_id}


def service_labels(client: docker.DockerClient, stack: str) -> dict[str, dict[str, str]]:
    """Deploy labels of every service of the stack, by service name without the stack prefix."""
    return {s.name.removeprefix(f"{stack}_"): dict(s.attrs["Spec"].get("Labels") or {})
            for s in stack_services(stack, client)}


def stack_services(stack: str, client: docker.DockerClient) -> list[Service]:
    return list(client.services.list(filters={"label": f"{STACK_LABEL}={stack}"}))


# -- teardown -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leftover:
    kind: str  # service, container, volume, secret, config, network
    id: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


def remove_stack(client: docker.DockerClient, stack: str, deadline_s: float = TEARDOWN_DEADLINE_S) -> list[str]:
    """Remove everything of the stack and return whatever may still exist afterwards (empty = clean).

    Each pass lists what is left and removes it: services first; then containers (force-removed:
    swarm would stop them gracefully and reap them later, and busybox httpd as PID 1 ignores
    SIGTERM), secrets and configs at once; then volumes and networks, which are in use until the
    containers are gone. A pass that finds nothing is the leftover check. Races never raise:
    whatever swarm removed first is progress, whatever is still in use is retried next pass.
    Each kind is listed on its own: one that cannot be listed (a busy engine, a lost link past its
    reconnect bound) never stops the others; at the deadline it is reported as what may be left.
    """
    deadline = time.monotonic() + deadline_s
    seen: dict[str, list[Leftover]] = {}  # per kind, its last listing: what may be left when it fails
    lost = 0  # passes in a row in which the engine was out of reach for every kind
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="teardown") as pool:
        while True:
            left, unlisted = _listed(client, stack, pool)
            seen |= {kind: [o for o in left if o.kind == kind] for kind in _KINDS if kind not in unlisted}
            # out of reach twice in a row, each after its own retries (a lost SSH link's reconnect
            # bound): the engine is gone for now; trying until the deadline would only wait longer
            lost = lost + 1 if set(unlisted) == set(_KINDS) and all(u.gave_up for u in unlisted.values()) else 0
            if (not left and not unlisted) or lost >= 2 or time.monotonic() >= deadline:
                return _may_be_left(stack, left, unlisted, seen)
            stages = (("service",), ("container", "secret", "config"), ("volume", "network"))
            deferred = bool(unlisted)
            for kinds in stages:
                batch = [obj for obj in left if obj.kind in kinds]
                deferred |= not all(pool.map(lambda obj: _remove(client, obj), batch))
            if deferred:
                time.sleep(RETRY_S)


@dataclass(frozen=True)
class _Unlisted:
    why: str
    gave_up: bool  # the call already retried on its own and gave up (CcciError: a lost link's bound)


def _may_be_left(stack: str, left: list[Leftover], unlisted: dict[str, _Unlisted],
                 seen: dict[str, list[Leftover]]) -> list[str]:
    """What is left, and for a kind that could not be listed, what it held when last listed (or
    every object of that kind of the stack, never listed) and why it is unknown."""
    found = {str(obj) for obj in left}
    by_reason: dict[str, list[str]] = {}
    for kind in (k for k in _KINDS if k in unlisted):
        found |= {str(obj) for obj in seen.get(kind, [])}
        by_reason.setdefault(unlisted[kind].why, []).append(kind)
    for why, kinds in by_reason.items():
        either = kinds[0] if len(kinds) == 1 else f"{', '.join(kinds[:-1])} or {kinds[-1]}"
        found.add(f"unknown: any {either} of {stack} (could not list them: {why})")
    return sorted(found)


def stack_leftovers(client: docker.DockerClient, stack: str) -> list[str]:
    """Every service, container, volume, secret, config and network of the stack still present,
    and a line for each kind that could not be listed."""
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="leftovers") as pool:
        left, unlisted = _listed(client, stack, pool)
    return _may_be_left(stack, left, unlisted, {})


def _listed(client: docker.DockerClient, stack: str,
            pool: ThreadPoolExecutor) -> tuple[list[Leftover], dict[str, _Unlisted]]:
    """One listing call per kind and filter, in parallel; none of them inspects objects one by one
    (the high-level `containers.list` does, and fails on a container removed in between). Also,
    per kind whose listing failed, why."""
    by_stack = {"label": f"{STACK_LABEL}={stack}"}
    by_name = {"name": f"{stack}_"}  # anything named after the stack is ours too (e.g. made by hand)
    queries = [(kind, by_stack) for kind in _KINDS] + [(kind, by_name) for kind in _KINDS[2:]]
    queries.append(("secret", {"label": f"{OWNER_STACK_LABEL}={stack}"}))
    found: dict[tuple[str, str], Leftover] = {}
    unlisted: dict[str, _Unlisted] = {}
    for (kind, _), objs in zip(queries, pool.map(lambda query: _list_or_why(client.api, *query), queries), strict=True):
        if isinstance(objs, _Unlisted):
            unlisted[kind] = objs
        else:
            found |= {(obj.kind, obj.id): obj for obj in objs}
    return list(found.values()), unlisted


def _list_or_why(api: Any, kind: str, filters: dict[str, str]) -> list[Leftover] | _Unlisted:
    try:
        return _list_kind(api, kind, filters)
    except Exception as err:  # noqa: BLE001 - any failure (engine, link, transport) is this kind's alone
        log.debug("listing %ss with %s failed: %s", kind, filters, err)
        return _Unlisted(_one_line(err), isinstance(err, CcciError))


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 300 else text[:297] + "..."


_KINDS = ("service", "container", "volume", "secret", "config", "network")


def _list_kind(api: Any, kind: str, filters: dict[str, str]) -> list[Leftover]:
    if kind == "service":
        found = [Leftover(kind, o["ID"], o["Spec"]["Name"]) for o in api.services(filters=filters)]
    elif kind == "container":
        found = [Leftover(kind, o["Id"], (o.get("Names") or ["/" + o["Id"][:12]])[0].lstrip("/"))
                 for o in api.containers(all=True, filters=filters)]
    elif kind == "volume":
        found = [Leftover(kind, o["Name"], o["Name"]) for o in (api.volumes(filters=filters) or {}).get("Volumes") or []]
    elif kind == "network":
        found = [Leftover(kind, o["Id"], o["Name"]) for o in api.networks(filters=filters)]
    else:
        listing = api.secrets if kind == "secret" else api.configs
        found = [Leftover(kind, o["ID"], o["Spec"]["Name"]) for o in listing(filters=filters)]
    # the engine's name filter matches anywhere in the name; ours are prefixed with the stack
    return [o for o in found if o.name.startswith(filters["name"])] if "name" in filters else found


def _remove(client: docker.DockerClient, obj: Leftover) -> bool:
    """True when the object is gone now (removed by us or by swarm), False when it is still in use."""
    api = client.api
    removers: dict[str, Callable[[], Any]] = {
        "service": lambda: api.remove_service(obj.id),
        "container": lambda: api.remove_container(obj.id, force=True),
        "volume": lambda: api.remove_volume(obj.id),
        "secret": lambda: api.remove_secret(obj.id),
        "config": lambda: api.remove_config(obj.id),
        "network": lambda: api.remove_network(obj.id),
    }
    try:
        unless_gone(removers[obj.kind])
        return True
    except Exception as err:  # noqa: BLE001 - in use, removal in progress, a busy engine, a lost link: next pass
        log.debug("removal of %s deferred: %s", obj, err)
        return False
