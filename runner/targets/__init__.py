"""The target registry: `CCCI_DOCKER_HOST` picks one (`local`, or `ssh://…`); a tier's pytest
process attaches to the run's own from the run's description. Nothing else imports a concrete
target."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.swarm.reach import GATEWAY_NETWORK
from runner.targets.guard import refuse_local_reach

if TYPE_CHECKING:
    from runner.run.config import TargetSettings
    from runner.targets.base import Target

# kind -> "module:Class", imported only when chosen
TARGETS = {
    "local": "runner.targets.local:LocalTarget",
    "ssh": "runner.targets.ssh:SshTarget",
    "forwarded": "runner.targets.forward:ForwardedTarget",  # the ssh target, seen from a tier process
}


def target_kind(docker_host: str) -> str:
    return "local" if docker_host == "local" else "ssh"


def _class(kind: str) -> Any:
    module_name, class_name = TARGETS[kind].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def open_target(settings: TargetSettings) -> Target:
    """The run's target, connected. A target that cannot be reached or trusted is BadInput (an
    SSH refusal) or InfraError (a local engine that does not answer), before anything is deployed."""
    kind = target_kind(settings.docker_host)
    cls = _class(kind)
    target: Target = cls() if kind == "local" else cls(settings.docker_host, settings.ssh_known_hosts, settings.ssh_key,
                                                       reconnect_s=settings.ssh_reconnect_s)
    target.host_id = settings.host_id
    if settings.refuse_local_reach:
        refuse_local_reach(gateway_subnets(target))
    return target


def describe_target(target: Target, settings: TargetSettings) -> dict[str, Any]:
    """What `attach_target` needs in another process of the run (written to the run description)."""
    description = target.description()
    if settings.refuse_local_reach:
        description["refuse_local_reach"] = gateway_subnets(target)
    return description


def attach_target(description: dict[str, Any]) -> Target:
    """The run's target in a tier's pytest process, from the run description."""
    if refused := description.get("refuse_local_reach"):
        refuse_local_reach(refused)
    if description["kind"] == "forwarded":
        return _class("forwarded")(description["address"], Path(description["forward_dir"]))  # type: ignore[no-any-return]
    return _class(description["kind"])()  # type: ignore[no-any-return]


def gateway_subnets(target: Target) -> list[str]:
    """The subnets of docker_gwbridge on the target's node: the route the test switch refuses."""
    ipam = target.client.api.inspect_network(GATEWAY_NETWORK).get("IPAM") or {}
    return [c["Subnet"] for c in ipam.get("Config") or [] if c.get("Subnet")]
