"""Deciding whether a swarm service has converged. Pure: fed the API's dicts, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_UPDATE_IN_PROGRESS = {"updating", "rollback_started"}
_UPDATE_FAILED = {"paused", "rollback_paused", "rollback_completed"}
_FAILED_TASK_STATES = {"failed", "rejected", "orphaned"}


@dataclass(frozen=True)
class Progress:
    service: str
    running: int
    desired: int
    converged: bool
    failure: str | None  # set when waiting longer cannot help (e.g. the update was rolled back)


def desired_replicas(service_spec: dict[str, Any], node_count: int) -> int:
    mode = service_spec.get("Mode", {})
    if "Global" in mode:
        return node_count
    return int(mode.get("Replicated", {}).get("Replicas", 1))


def service_progress(name: str, service: dict[str, Any], tasks: list[dict[str, Any]],
                     node_count: int = 1) -> Progress:
    """Converged = the desired number of tasks running (swarm reports a task with a
    healthcheck as running only once it is healthy) and no update in flight."""
    desired = desired_replicas(service.get("Spec", {}), node_count)
    running = sum(
        1 for t in tasks
        if t.get("DesiredState") == "running" and t.get("Status", {}).get("State") == "running"
    )
    update = service.get("UpdateStatus") or {}
    state = update.get("State")
    if state in _UPDATE_FAILED:
        return Progress(name, running, desired, False,
                        f"update {state}: {update.get('Message', '').strip() or 'no message'}")
    converged = running == desired and state not in _UPDATE_IN_PROGRESS
    return Progress(name, running, desired, converged, None)


def task_errors(tasks: list[dict[str, Any]], limit: int = 3) -> list[str]:
    """The newest distinct task failures, e.g. `task: non-zero exit (137): dockerexec: unhealthy container`."""
    failed = [t for t in tasks if t.get("Status", {}).get("State") in _FAILED_TASK_STATES
              or t.get("Status", {}).get("Err")]
    failed.sort(key=lambda t: t.get("Status", {}).get("Timestamp", ""), reverse=True)
    seen: list[str] = []
    for task in failed:
        status = task.get("Status", {})
        text = status.get("Err") or f"{status.get('State')}: {status.get('Message', '')}"
        if text not in seen:
            seen.append(text)
    return seen[:limit]
