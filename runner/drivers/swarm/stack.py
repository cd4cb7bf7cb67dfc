"""A stack on the swarm: its labels, services, progress, removal and what is left of it.

Swarm removes a stack's objects in the background while we look at them, so every call here
treats "already gone" (404, `No such …`) as progress, never as an error.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import docker
from docker.errors import APIError, DockerException, NotFound
from docker.models.services import Service
from requests.exceptions import RequestException

from runner.drivers.swarm.convergence import Progress, service_progress
from runner.harness.docker_client import docker_client

log = logging.getLogger(__name__)

STACK_LABEL = "com.docker.stack.namespace"
SERVICE_LABEL = "com.docker.swarm.service.name"
RUN_LABEL = "cc-ci.run"
OWNER_STACK_LABEL = "cc-ci.stack"  # on the secrets we create ourselves (they are external to the stack)
RUN_DIR_LABEL = "cc-ci.run-dir"  # where the run's lock lives, so gc finds it whatever runs dir it is given
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


def stack_services(stack: str, client: docker.DockerClient | None = None) -> list[Service]:
    client = client or docker_client()
    return list(client.services.list(filters={"label": f"{STACK_LABEL}={stack}"}))


def stack_progress(stack: str, client: docker.DockerClient | None = None) -> list[Progress]:
    """Where each service of the stack stands, read fresh from the swarm in two calls."""
    client = client or docker_client()
    services = client.api.services(filters={"label": f"{STACK_LABEL}={stack}"})
    if not services:
        return []
    tasks = unless_gone(client.api.tasks, filters={"service": [s["ID"] for s in services]}) or []
    by_service: dict[str, list[dict[str, Any]]] = {s["ID"]: [] for s in services}
    for task in tasks:
        by_service.get(task.get("ServiceID", ""), []).append(task)
    is_global = any("Global" in s["Spec"].get("Mode", {}) for s in services)
    nodes = len(client.api.nodes()) if is_global else 1
    return [service_progress(s["Spec"]["Name"], s, by_service[s["ID"]], nodes) for s in services]


class StackWatch:
    """Wakes a waiter as soon as a container of the stack changes (create, start, health_status,
    exec of a healthcheck, die, destroy) or one of its services does (an update's state), so
    that the wait can poll rarely and still react at once."""

    def __init__(self, client: docker.DockerClient, stack: str, service_ids: list[str]) -> None:
        self._changed = threading.Event()
        self._streams = [client.events(decode=True, filters=f) for f in (
            # not exec_*: a healthcheck execs every interval, and task state does not change with it
            {"type": "container", "label": f"{STACK_LABEL}={stack}", "event": ["start", "die", "health_status"]},
            {"type": "service", "service": service_ids},
        )]
        for stream in self._streams:
            threading.Thread(target=self._pump, args=(stream,), daemon=True, name=f"events-{stack}").start()

    def _pump(self, stream: Any) -> None:
        try:
            for _event in stream:
                self._changed.set()
        except Exception:  # closed under us by close(), or the engine went away: polls carry on
            log.debug("event stream ended", exc_info=True)

    def wait(self, timeout: float) -> bool:
        """True when something changed since the last call (returns early), False on timeout."""
        changed = self._changed.wait(timeout)
        self._changed.clear()
        return changed

    def close(self) -> None:
        for stream in self._streams:
            with contextlib.suppress(Exception):
                stream.close()

    def __enter__(self) -> StackWatch:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


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
