"""Service endpoints on a host whose kernel has no IPVS. Pure.

A swarm service's name resolves to a virtual IP that IPVS balances over its tasks; without IPVS
nothing answers that address ("No route to host"). `endpoint_mode: dnsrr` makes the name resolve
to the tasks' own addresses instead, which needs no IPVS. The swarm driver adds it to the extra
compose file it writes anyway, so the recipe never sees it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from runner.drivers.swarm.substrate import ServiceVips

DnsrrSetting = Literal["auto", "on", "off"]
NO_ROUTE = "no route to host"


@dataclass(frozen=True)
class EndpointPlan:
    """Which services get `endpoint_mode: dnsrr`, which keep their VIP, and why."""

    dnsrr: list[str]
    kept_vip: list[str]  # they publish ports in ingress mode, which swarm refuses with dnsrr
    why: str
    forced: bool = False  # CCCI_DNSRR=on: the host's VIPs may work

    def describe(self) -> str:
        """One line for the console, results.json and summary.md."""
        line = (f"endpoint_mode dnsrr for {', '.join(self.dnsrr) or 'no service'}: {self.why}; "
                "a service name resolves to its tasks instead of a virtual IP (a deploy-time override, "
                "the recipe is unchanged)")
        if self.kept_vip:
            line += (f"; kept the virtual IP of {', '.join(self.kept_vip)}: it publishes ports in ingress mode, "
                     "which swarm refuses with dnsrr"
                     + ("" if self.forced else " (on this host neither those ports nor its name answer)"))
        return line


def wants_dnsrr(setting: DnsrrSetting, vips: ServiceVips) -> bool:
    return setting == "on" or (setting == "auto" and not vips.work)


def preflight(setting: DnsrrSetting, vips: ServiceVips) -> str | None:
    """What a run says about the host before deploying; None when there is nothing to say."""
    if wants_dnsrr(setting, vips):
        why = "CCCI_DNSRR=on" if setting == "on" else vips.why
        return (f"{why}: deploying every service with endpoint_mode dnsrr, so that a service name resolves "
                f"to its tasks (CCCI_DNSRR={setting}; the recipe is unchanged)")
    if not vips.work:
        return f"{vips.why}, and CCCI_DNSRR=off: services cannot reach each other by name on this host"
    return None


def plan_endpoints(setting: DnsrrSetting, vips: ServiceVips,
                   ports: Mapping[str, list[Any]]) -> EndpointPlan | None:
    """None when every service keeps swarm's default (VIPs work, or CCCI_DNSRR=off).

    `ports`: each service's `ports:` entries as the recipe's compose files list them."""
    if not wants_dnsrr(setting, vips):
        return None
    why = "CCCI_DNSRR=on" if setting == "on" else f"{vips.why}, so swarm's service virtual IPs do not answer"
    publishers = {name for name, entries in ports.items() if any(_ingress(entry) for entry in entries)}
    return EndpointPlan(dnsrr=[s for s in ports if s not in publishers],
                        kept_vip=[s for s in ports if s in publishers], why=why, forced=setting == "on")


def _ingress(entry: Any) -> bool:
    """Short syntax (`"8080:80"`) always publishes in ingress mode; long syntax unless `mode: host`."""
    if isinstance(entry, dict):
        return str(entry.get("mode", "ingress")).strip().lower() != "host"
    return True


def host_diagnosis(vips: ServiceVips, setting: DnsrrSetting, plan: EndpointPlan | None,
                   failure: str) -> tuple[str, bool] | None:
    """What a convergence failure says about the host, and whether it is the likely cause (then it
    leads the error; else it is a note after it). None when the host is not in question.

    `plan`: the endpoints of the stack's latest deploy (None: left to swarm, or not known)."""
    if vips.work:
        return None
    unreachable = NO_ROUTE in failure.lower()
    if setting == "off":
        text = (f"{vips.why}: swarm's service virtual IPs do not answer here, so a service cannot reach another "
                "by its name; CCCI_DNSRR=off turned off the endpoint_mode dnsrr override that works around it")
        return (f"the host, not the app: {text}", True) if unreachable else (f"note: {text}", False)
    if not unreachable:
        return None
    kept = f"; {', '.join(plan.kept_vip)} kept a virtual IP (ingress ports)" if plan and plan.kept_vip else ""
    return (f"the host, not the app, is the likely cause: {vips.why}; the services were deployed with "
            f"endpoint_mode dnsrr{kept}, but something still connects to a virtual IP (a service of another "
            "stack, or one that kept its VIP)", True)
