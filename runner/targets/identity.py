"""The app as the swarm knows it: its services by id and spec version, its volumes by creation
time. Two readings (after install, after upgrade) show whether the upgrade stayed in place."""

from __future__ import annotations

from typing import Any

import docker

from runner.harness.opstate import AppIdentity, ServiceIdentity, VolumeIdentity
from runner.targets.stack import STACK_LABEL


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
                           updated_at=str(service.get("UpdatedAt", "")))
