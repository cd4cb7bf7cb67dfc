"""Deciding whether a swarm service has converged, or never will. Pure: fed the API's dicts, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

_UPDATE_IN_PROGRESS = {"updating", "rollback_started"}
_UPDATE_FAILED = {"paused", "rollback_paused", "rollback_completed"}
_FAILED_TASK_STATES = {"failed", "rejected", "orphaned"}
_STREAK_STATES = {"failed", "rejected"}  # orphaned = the node went away, not the task's doing
_ENDED_WELL_STATES = {"complete", "shutdown", "remove"}

# Tasks that fail the same way this many times in a row end the wait. Rejections (no such image,
# a missing mount source) never heal by themselves. A crash or an unhealthy container can be an
# app waiting for a sibling service (its database) that is still starting, so while another
# service is not converged yet it takes twice as many.
SAME_FAILURES_TO_GIVE_UP = 3
SAME_FAILURES_WHILE_SIBLINGS_START = 6


@dataclass(frozen=True)
class FailureStreak:
    error: str  # the one error text the newest finished tasks share
    count: int  # how many of them, newest first, failed with it
    rejected: bool  # swarm could not even start them


@dataclass(frozen=True)
class Progress:
    service: str
    running: int
    desired: int
    converged: bool
    failure: str | None  # set when waiting longer cannot help (e.g. the update was rolled back)
    latest_error: str | None = None  # the newest task error of the current spec, for progress lines
    streak: FailureStreak | None = None


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
    template = service.get("Spec", {}).get("TaskTemplate", {})
    # Only tasks of the current spec count: right after a deploy the old task still runs and
    # swarm may not have marked the update as started yet (seen under load: "converged" on the
    # old task, then 0/1 while the tier ran).
    running = sum(
        1 for t in tasks
        if t.get("DesiredState") == "running" and t.get("Status", {}).get("State") == "running"
        and _of_spec(t, template)
    )
    current = current_spec_tasks(service, tasks)
    errors = task_errors(current, limit=1)
    latest = errors[0] if errors else None
    update = service.get("UpdateStatus") or {}
    state = update.get("State")
    if state in _UPDATE_FAILED:
        return Progress(name, running, desired, False,
                        f"update {state}: {update.get('Message', '').strip() or 'no message'}", latest)
    converged = running == desired and state not in _UPDATE_IN_PROGRESS
    return Progress(name, running, desired, converged, None, latest, failure_streak(current))


def _of_spec(task: dict[str, Any], template: dict[str, Any]) -> bool:
    """The task was made from `template` (the engine adds defaults to the template, e.g. its
    Runtime, so the container spec and the force-update counter are what is compared)."""
    spec = task.get("Spec")
    if spec is None or not template:
        return True
    return bool(spec.get("ContainerSpec") == template.get("ContainerSpec")
                and spec.get("ForceUpdate", 0) == template.get("ForceUpdate", 0))


def current_spec_tasks(service: dict[str, Any], tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tasks created for the service's current spec. An update (our upgrade's redeploy)
    replaces tasks; those created before it began belong to the old spec, however they ended."""
    started = _when((service.get("UpdateStatus") or {}).get("StartedAt"))
    if started is None:
        return list(tasks)
    return [t for t in tasks if (_when(t.get("CreatedAt")) or started) >= started]


def failure_streak(tasks: list[dict[str, Any]]) -> FailureStreak | None:
    """How many of the newest finished tasks failed with one and the same error.

    Tasks still on their way up (or running) are skipped: they may yet succeed, and a
    healthcheck's start_period keeps a task `starting`, not failed. A task that ended well
    (shut down by swarm, e.g. scaled away) or failed differently ends the streak.
    """
    finished = [t for t in tasks if _state(t) in _STREAK_STATES | _ENDED_WELL_STATES]
    finished.sort(key=_created, reverse=True)
    streak: FailureStreak | None = None
    for task in finished:
        if _state(task) not in _STREAK_STATES:
            break
        error = _error_text(task)
        if streak is None:
            streak = FailureStreak(error, 1, _state(task) == "rejected")
        elif error == streak.error:
            streak = FailureStreak(error, streak.count + 1, streak.rejected)
        else:
            break
    return streak


def stuck(progress: list[Progress]) -> tuple[Progress, str] | None:
    """The first service of the stack that waiting cannot help, and why; None to keep waiting."""
    for p in progress:
        if p.failure:
            return p, p.failure
    for p in progress:
        if p.converged or p.streak is None:
            continue
        siblings_up = all(o.converged for o in progress if o is not p)
        needed = SAME_FAILURES_TO_GIVE_UP if p.streak.rejected or siblings_up else SAME_FAILURES_WHILE_SIBLINGS_START
        if p.streak.count >= needed:
            return p, f"gave up: its last {p.streak.count} tasks failed the same way: {p.streak.error}"
    return None


def waiting_line(progress: list[Progress]) -> str:
    """`app 0/1 (No such image: x), db 0/1` for the services not converged yet."""
    return ", ".join(f"{p.service} {p.running}/{p.desired}" + (f" ({p.latest_error})" if p.latest_error else "")
                     for p in progress if not p.converged)


def task_errors(tasks: list[dict[str, Any]], limit: int = 3) -> list[str]:
    """The newest distinct task failures, e.g. `task: non-zero exit (137): dockerexec: unhealthy container`."""
    failed = [t for t in tasks if _state(t) in _FAILED_TASK_STATES or t.get("Status", {}).get("Err")]
    failed.sort(key=lambda t: t.get("Status", {}).get("Timestamp", ""), reverse=True)
    seen: list[str] = []
    for task in failed:
        text = _error_text(task)
        if text not in seen:
            seen.append(text)
    return seen[:limit]


def _state(task: dict[str, Any]) -> str:
    return str(task.get("Status", {}).get("State", ""))


def _error_text(task: dict[str, Any]) -> str:
    status = task.get("Status", {})
    return str(status.get("Err") or f"{status.get('State')}: {status.get('Message', '')}")


def _created(task: dict[str, Any]) -> datetime:
    return _when(task.get("CreatedAt")) or _when(task.get("Status", {}).get("Timestamp")) or datetime.min


_FRACTION = re.compile(r"(\.\d{6})\d+")


def _when(stamp: str | None) -> datetime | None:
    """The engine's RFC 3339 stamps carry nanoseconds; datetime takes at most microseconds."""
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(_FRACTION.sub(r"\1", stamp).replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        return None
