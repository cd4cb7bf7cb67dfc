"""The targets: `CCCI_DOCKER_HOST` picks one of the registry's (`runner/run/registry.py`, where a
new target is one line: its class and the address that chooses it); a tier's pytest process
attaches to the run's own from the run's description. Nothing else imports a concrete target."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runner.errors import BadInput
from runner.run.registry import TARGETS, load, unknown_docker_host
from runner.run.registry import target_kind as registry_kind
from runner.swarm.reach import GATEWAY_NETWORK
from runner.targets.guard import refuse_local_reach

if TYPE_CHECKING:
    from runner.run.config import TargetSettings
    from runner.targets.base import Target

def target_kind(docker_host: str) -> str:
    """The registry's kind of target that `docker_host` chooses; BadInput when it chooses none."""
    kind = registry_kind(docker_host)
    if kind is None:
        raise BadInput(f"CCCI_DOCKER_HOST: {unknown_docker_host(docker_host)}")
    return kind


def open_target(settings: TargetSettings) -> Target:
    """The run's target, connected. A target that cannot be reached or trusted is BadInput (an
    SSH refusal) or InfraError (a local engine that does not answer), before anything is deployed."""
    target: Target = load(TARGETS[target_kind(settings.docker_host)].where).open(settings)
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
    return load(TARGETS[description["kind"]].where).attach(description)  # type: ignore[no-any-return]


def gateway_subnets(target: Target) -> list[str]:
    """The subnets of docker_gwbridge on the target's node: the route the test switch refuses."""
    ipam = target.client.api.inspect_network(GATEWAY_NETWORK).get("IPAM") or {}
    return [c["Subnet"] for c in ipam.get("Config") or [] if c.get("Subnet")]
