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
from docker.errors import APIError, DockerException, NotFound
from docker.models.services import Service
from requests.exceptions import RequestException

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
    """Remove everything of the stack and return whatever still exists afterwards (empty = clean).

    Each pass lists what is left and removes it: services first; then containers (force-removed:
    swarm would stop them gracefully and reap them later, and busybox httpd as PID 1 ignores
    SIGTERM), secrets and configs at once; then volumes and networks, which are in use until the
    containers are gone. A pass that finds nothing is the leftover check. Races never raise:
    whatever swarm removed first is progress, whatever is still in use is retried next pass.
    """
    deadline = time.monotonic() + deadline_s
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="teardown") as pool:
        while True:
            try:
                left = _listed(client, stack, pool)
            except (DockerException, RequestException) as err:  # a busy engine; only the deadline gives up
                if time.monotonic() >= deadline:
                    raise
                log.debug("listing %s failed, retrying: %s", stack, err)
                time.sleep(RETRY_S)
                continue
            if not left or time.monotonic() >= deadline:
                return sorted(str(obj) for obj in left)
            stages = (("service",), ("container", "secret", "config"), ("volume", "network"))
            deferred = False
            for kinds in stages:
                batch = [obj for obj in left if obj.kind in kinds]
                deferred |= not all(pool.map(lambda obj: _remove(client, obj), batch))
            if deferred:
                time.sleep(RETRY_S)


def stack_leftovers(client: docker.DockerClient, stack: str) -> list[str]:
    """Every service, container, volume, secret, config and network of the stack still present."""
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="leftovers") as pool:
        return sorted(str(obj) for obj in _listed(client, stack, pool))


def _listed(client: docker.DockerClient, stack: str, pool: ThreadPoolExecutor) -> list[Leftover]:
    """One listing call per kind and filter, in parallel; none of them inspects objects one by one
    (the high-level `containers.list` does, and fails on a container removed in between)."""
    by_stack = {"label": f"{STACK_LABEL}={stack}"}
    by_name = {"name": f"{stack}_"}  # anything named after the stack is ours too (e.g. made by hand)
    queries = [(kind, by_stack) for kind in _KINDS] + [(kind, by_name) for kind in _KINDS[2:]]
    queries.append(("secret", {"label": f"{OWNER_STACK_LABEL}={stack}"}))
    found: dict[tuple[str, str], Leftover] = {}
    for objs in pool.map(lambda query: _list_kind(client.api, *query), queries):
        found |= {(obj.kind, obj.id): obj for obj in objs}
    return list(found.values())


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
    except (DockerException, RequestException) as err:  # in use, removal in progress, a busy engine: next pass
        log.debug("removal of %s deferred: %s", obj, err)
        return False
