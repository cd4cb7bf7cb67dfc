"""The app as the swarm knows it: its services by id, spec version and mounts, its volumes by
creation time. Two readings (after install, after upgrade) show whether the upgrade stayed in place; two
readings of the specs and running tasks (`service_readings`) show what an unchanged redeploy changed."""

from __future__ import annotations

from typing import Any

import docker

from runner.evidence.specdiff import ServiceReading
from runner.run.opstate import AppIdentity, MountIdentity, ServiceIdentity, VolumeIdentity
from runner.swarm.stack import STACK_LABEL


def deployed_identity(client: docker.DockerClient, stack: str) -> AppIdentity:
    """Two API calls: the stack's services and the volumes `docker stack deploy` made for it."""
    by_label = {"label": f"{STACK_LABEL}={stack}"}
    services = client.api.services(filters=by_label)
    volumes = client.api.volumes(filters=by_label).get("Volumes") or []
    return AppIdentity(stack=stack,
                       services={_name(s, stack): _service(s) for s in services},
                       volumes={v["Name"]: VolumeIdentity(name=v["Name"], created_at=str(v.get("CreatedAt", "")))
                                for v in volumes})


def _name(service: dict[str, Any], stack: str) -> str:
    return str(service["Spec"]["Name"]).removeprefix(f"{stack}_")


def _service(service: dict[str, Any]) -> ServiceIdentity:
    return ServiceIdentity(id=service["ID"], version=int(service["Version"]["Index"]),
                           updated_at=str(service.get("UpdatedAt", "")), mounts=_mounts(service))


def _mounts(service: dict[str, Any]) -> dict[str, MountIdentity]:
    """The service's mounts by the path in its containers, as its spec declares them."""
    spec = service.get("Spec", {}).get("TaskTemplate", {}).get("ContainerSpec", {})
    # `/data/` and `/data` are one path to docker: a release that drops the slash moved nothing
    return {str(m["Target"]).rstrip("/") or "/": MountIdentity(type=str(m.get("Type", "volume")),
                                                               source=str(m.get("Source") or ""))
            for m in spec.get("Mounts") or [] if m.get("Target")}


def service_readings(client: docker.DockerClient, stack: str) -> dict[str, ServiceReading]:
    """Each service of the stack with its whole spec and the ids of its tasks that should be
    running, by name in the recipe. Two API calls."""
    services = client.api.services(filters={"label": f"{STACK_LABEL}={stack}"})
    if not services:
        return {}
    tasks = client.api.tasks(filters={"service": [s["ID"] for s in services], "desired-state": "running"})
    running: dict[str, list[str]] = {}
    for task in tasks:
        running.setdefault(task["ServiceID"], []).append(task["ID"])
    return {_name(s, stack): ServiceReading(id=s["ID"], spec=s["Spec"], tasks=tuple(sorted(running.get(s["ID"], []))))
            for s in services}
