"""A stack's progress on the swarm, and a watch that wakes a waiter when it changes."""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

import docker

from runner.targets.convergence import Progress, service_progress
from runner.targets.stack import STACK_LABEL, unless_gone

log = logging.getLogger(__name__)


def stack_progress(stack: str, client: docker.DockerClient) -> list[Progress]:
    """Where each service of the stack stands, read fresh from the swarm in two calls."""
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
