"""A stack on the swarm: its labels, services, progress, removal and what is left of it."""

from __future__ import annotations

import logging
import time
from typing import Any

import docker
from docker.errors import APIError, NotFound
from docker.models.services import Service

from runner.drivers.swarm.convergence import Progress, service_progress
from runner.harness.docker_client import docker_client

log = logging.getLogger(__name__)

STACK_LABEL = "com.docker.stack.namespace"
SERVICE_LABEL = "com.docker.swarm.service.name"
RUN_LABEL = "cc-ci.run"
OWNER_STACK_LABEL = "cc-ci.stack"  # on the secrets we create ourselves (they are external to the stack)
RUN_DIR_LABEL = "cc-ci.run-dir"  # where the run's lock lives, so gc finds it whatever runs dir it is given
TEARDOWN_DEADLINE_S = 120.0
POLL_S = 0.5


def stack_services(stack: str, client: docker.DockerClient | None = None) -> list[Service]:
    client = client or docker_client()
    return list(client.services.list(filters={"label": f"{STACK_LABEL}={stack}"}))


def stack_progress(stack: str, client: docker.DockerClient | None = None) -> list[Progress]:
    """Where each service of the stack stands, read fresh from the swarm."""
    client = client or docker_client()
    nodes = len(client.nodes.list())
    return [service_progress(s.name, s.attrs, s.tasks(), nodes) for s in stack_services(stack, client)]


def remove_stack(client: docker.DockerClient, stack: str, deadline_s: float = TEARDOWN_DEADLINE_S) -> list[str]:
    """`docker stack rm`, waiting until containers are really gone, then volumes, secrets,
    configs and networks; returns whatever still exists afterwards."""
    by_stack = {"label": f"{STACK_LABEL}={stack}"}
    for service in stack_services(stack, client):
        _ignore_gone(service.remove)
    deadline = time.monotonic() + deadline_s
    # `docker stack rm` returns before the containers are gone, and volumes in use cannot be
    # removed. Kill rather than wait out the stop grace period: a torn-down app's state is moot.
    while (containers := client.containers.list(all=True, filters=by_stack)) and time.monotonic() < deadline:
        for container in containers:
            if container.status == "running":
                _ignore_gone(container.kill)
        time.sleep(POLL_S)
    while time.monotonic() < deadline:
        for kind in ("secrets", "configs", "networks", "volumes"):
            for obj in _owned(client, kind, stack):
                _ignore_gone(obj.remove)
        if not stack_leftovers(client, stack):
            break
        time.sleep(POLL_S)
    return stack_leftovers(client, stack)


def _ignore_gone(remove: Any) -> None:
    try:
        remove()
    except NotFound:
        pass
    except APIError as err:  # still in use: the next pass retries
        log.debug("removal deferred: %s", err)


def _owned(client: docker.DockerClient, kind: str, stack: str) -> list[Any]:
    collection = getattr(client, kind)
    found = {o.id: o for o in collection.list(filters={"label": f"{STACK_LABEL}={stack}"})}
    if kind == "secrets":
        found |= {o.id: o for o in collection.list(filters={"label": f"{OWNER_STACK_LABEL}={stack}"})}
    # anything else named after the stack is ours too (e.g. created by hand during a debug session)
    for obj in collection.list(filters={"name": f"{stack}_"}):
        if obj.name.startswith(f"{stack}_"):
            found[obj.id] = obj
    return list(found.values())


def stack_leftovers(client: docker.DockerClient, stack: str) -> list[str]:
    """Every service, container, volume, secret, config and network of the stack still present."""
    left = [f"service {s.name}" for s in stack_services(stack, client)]
    left += [f"container {c.name}" for c in
             client.containers.list(all=True, filters={"label": f"{STACK_LABEL}={stack}"})]
    for kind in ("volumes", "secrets", "configs", "networks"):
        left += [f"{kind[:-1]} {o.name}" for o in _owned(client, kind, stack)]
    return sorted(left)
