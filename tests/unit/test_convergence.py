"""When a service counts as converged, from the swarm API's own shapes."""

from __future__ import annotations

from typing import Any

from runner.drivers.swarm.convergence import service_progress, task_errors


def _service(replicas: int = 1, update: str | None = None, mode: str = "Replicated") -> dict[str, Any]:
    spec_mode = {"Global": {}} if mode == "Global" else {"Replicated": {"Replicas": replicas}}
    service: dict[str, Any] = {"Spec": {"Mode": spec_mode}}
    if update:
        service["UpdateStatus"] = {"State": update, "Message": "update rolled back due to failure"}
    return service


def _task(state: str, desired: str = "running", err: str | None = None, ts: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    status: dict[str, Any] = {"State": state, "Timestamp": ts}
    if err:
        status["Err"] = err
    return {"DesiredState": desired, "Status": status}


def test_converged_when_desired_replicas_are_running() -> None:
    progress = service_progress("s", _service(2), [_task("running"), _task("running")])
    assert progress.converged and (progress.running, progress.desired) == (2, 2)


def test_a_task_still_starting_its_healthcheck_is_not_converged() -> None:
    assert not service_progress("s", _service(1), [_task("starting")]).converged


def test_old_tasks_being_shut_down_do_not_count() -> None:
    tasks = [_task("running", desired="shutdown"), _task("preparing")]
    assert not service_progress("s", _service(1), tasks).converged


def test_an_update_in_flight_is_not_converged_even_with_tasks_running() -> None:
    assert not service_progress("s", _service(1, update="updating"), [_task("running")]).converged
    assert service_progress("s", _service(1, update="completed"), [_task("running")]).converged


def test_a_rolled_back_update_is_a_failure_not_a_wait() -> None:
    progress = service_progress("s", _service(1, update="rollback_completed"), [_task("running")])
    assert not progress.converged
    assert progress.failure and "rolled back" in progress.failure


def test_global_services_want_one_task_per_node() -> None:
    assert service_progress("s", _service(mode="Global"), [_task("running")], node_count=1).converged
    assert not service_progress("s", _service(mode="Global"), [_task("running")], node_count=2).converged


def test_zero_replicas_is_converged_at_once() -> None:
    assert service_progress("s", _service(0), []).converged


def test_task_errors_are_newest_first_and_distinct() -> None:
    unhealthy = "task: non-zero exit (137): dockerexec: unhealthy container"
    tasks = [
        _task("failed", "shutdown", unhealthy, ts="2026-01-01T00:00:01Z"),
        _task("failed", "shutdown", unhealthy, ts="2026-01-01T00:00:05Z"),
        _task("rejected", "shutdown", "No such image: x", ts="2026-01-01T00:00:09Z"),
        _task("running"),
    ]
    assert task_errors(tasks) == ["No such image: x", unhealthy]
