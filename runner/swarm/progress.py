"""A stack's progress on the swarm, and a watch that wakes a waiter when it changes."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import docker

from runner.errors import ConvergenceError, InfraError
from runner.plumbing import idle
from runner.swarm.convergence import Progress, service_progress, stuck, waiting_line
from runner.swarm.stack import STACK_LABEL, stack_services, unless_gone

log = logging.getLogger(__name__)

COLD_POLL_S = 1.0  # when nothing happens; events wake the wait earlier
HOT_POLL_S = 0.05
HOT_WINDOW_S = 1.0  # keep polling this long after a change of the stack
PROGRESS_EVERY_S = 10.0


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


def unconverged(stack: str, client: docker.DockerClient) -> list[str]:
    """One line per service of the stack that has not converged; empty when all have."""
    progress = stack_progress(stack, client)
    if not progress:
        return [f"no services of stack {stack}"]
    return [f"{p.service}: {p.running}/{p.desired} running" for p in progress if not p.converged]


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


# -- waiting for a deploy to converge ------------------------------------------------------------

Describe = Callable[[Progress, str], str]  # a service that failed and why -> the error's message


def wait_converged(client: docker.DockerClient, stack: str, *, default_timeout_s: int,
                   say: Callable[[str], None], describe: Describe) -> dict[str, str]:
    """Wait until every service of the stack has converged, failing fast when waiting cannot help
    (`convergence.stuck`); return the labels of its app service. The deadline is the stack's
    `coop-cloud.<stack>.timeout` label, else `default_timeout_s`."""
    services = stack_services(stack, client)
    if not services:
        raise InfraError(f"the deploy created no services for {stack}")
    timeout = stack_timeout_s(stack, services, default_timeout_s)
    with StackWatch(client, stack, [s.id for s in services]) as watch:
        _poll_until_converged(client, stack, watch, timeout, say, describe)
    return app_labels(client, stack)


def _poll_until_converged(client: docker.DockerClient, stack: str, watch: StackWatch, timeout: int,
                          say: Callable[[str], None], describe: Describe) -> None:
    """Poll when the stack changes (swarm's task state trails the container's events by a
    moment, so keep polling briefly after each), at least every COLD_POLL_S otherwise."""
    now = time.monotonic()
    deadline, next_report, hot_until = now + timeout, now + PROGRESS_EVERY_S, now
    while True:
        progress = stack_progress(stack, client)
        now = time.monotonic()
        if now >= next_report:
            next_report += PROGRESS_EVERY_S
            say(f"waiting for convergence ({deadline - now:.0f}s left): {waiting_line(progress)}")
        verdict = stuck(progress)
        if verdict:
            raise ConvergenceError(describe(*verdict))
        if progress and all(p.converged for p in progress):
            return
        if now >= deadline:
            late = next((p for p in progress if not p.converged), None)
            if late is None:
                raise ConvergenceError(f"the services of {stack} disappeared while waiting for them")
            raise ConvergenceError(describe(late, f"did not converge within {timeout}s "
                                                  f"({late.running}/{late.desired} running)"))
        hot = now < hot_until
        idle.run()  # the engine works meanwhile: what the run put off until a wait (plumbing/idle.py)
        if watch.wait(min(HOT_POLL_S if hot else COLD_POLL_S, max(deadline - now, 0.0))):
            hot_until = time.monotonic() + HOT_WINDOW_S


def stack_timeout_s(stack: str, services: list[Any], default_s: int) -> int:
    """The recipe's `coop-cloud.<stack>.timeout` label (abra's deploy timeout), else `default_s`."""
    for service in services:
        raw = service.attrs["Spec"].get("Labels", {}).get(f"coop-cloud.{stack}.timeout", "")
        if raw.strip().isdigit() and int(raw) > 0:
            return int(raw)
    return default_s


def app_labels(client: docker.DockerClient, stack: str) -> dict[str, str]:
    """Labels of the service carrying the recipe's version label (abra's `app` service)."""
    services = stack_services(stack, client)
    for service in services:
        labels = service.attrs["Spec"].get("Labels", {})
        if f"coop-cloud.{stack}.version" in labels:
            return dict(labels)
    return dict(services[0].attrs["Spec"].get("Labels", {})) if services else {}
