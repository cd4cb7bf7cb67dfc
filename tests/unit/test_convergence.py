"""When a service counts as converged, from the swarm API's own shapes."""

from __future__ import annotations

from typing import Any

import pytest

from runner.swarm.convergence import (
    FailureStreak,
    failure_streak,
    service_progress,
    stuck,
    task_errors,
    waiting_line,
)


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


# -- failing fast: tasks that keep failing the same way end the wait ------------------------------

NO_IMAGE = "No such image: ccci-local/custom-html-tiny:9.9"
UNHEALTHY = "task: non-zero exit (137): dockerexec: unhealthy container"
EXIT_1 = "task: non-zero exit (1)"


def _t(state: str, err: str | None = None, at: int = 0, desired: str = "shutdown") -> dict[str, Any]:
    """A task created `at` seconds into the minute; failed tasks are already marked for shutdown."""
    stamp = f"2026-01-01T00:00:{at:02d}.123456789Z"  # the engine's nanoseconds
    status: dict[str, Any] = {"State": state, "Timestamp": stamp, "Message": state}
    if err:
        status["Err"] = err
    return {"DesiredState": desired, "CreatedAt": stamp, "Status": status}


def _updated_at(second: int) -> dict[str, Any]:
    """A service whose spec changed (our upgrade's redeploy) `second` seconds into the minute."""
    service = _service(1)
    service["UpdateStatus"] = {"State": "updating", "StartedAt": f"2026-01-01T00:00:{second:02d}.5Z"}
    return service


def _verdict(tasks: list[dict[str, Any]], service: dict[str, Any] | None = None,
             siblings_converged: bool = True) -> str | None:
    app = service_progress("app", service or _service(1), tasks)
    db = service_progress("db", _service(1), [_t("running", desired="running")] if siblings_converged
                          else [_t("starting", desired="running")])
    found = stuck([app, db])
    return found[1] if found else None


GIVES_UP = [
    pytest.param([_t("rejected", NO_IMAGE, s) for s in (1, 2, 3)], NO_IMAGE, id="three-rejections"),
    pytest.param([_t("failed", EXIT_1, s) for s in (1, 2, 3)], EXIT_1, id="three-identical-crashes"),
    pytest.param([_t("failed", UNHEALTHY, s) for s in (1, 2, 3)], UNHEALTHY, id="three-times-unhealthy"),
    pytest.param([_t("failed", EXIT_1, 1), *[_t("rejected", NO_IMAGE, s) for s in (2, 3, 4)]], NO_IMAGE,
                 id="the-newest-three-agree"),
    pytest.param([*[_t("rejected", NO_IMAGE, s) for s in (1, 2, 3)], _t("preparing", at=4, desired="running")],
                 NO_IMAGE, id="a-fourth-attempt-under-way-does-not-reset-it"),
]

KEEPS_WAITING = [
    pytest.param([_t("rejected", NO_IMAGE, s) for s in (1, 2)], id="two-rejections-only"),
    pytest.param([_t("failed", EXIT_1, 1), _t("failed", "task: non-zero exit (2)", 2), _t("failed", EXIT_1, 3)],
                 id="failing-differently"),
    pytest.param([_t("failed", EXIT_1, 1), _t("starting", at=2, desired="running")],
                 id="slow-start-after-one-restart"),
    pytest.param([_t("failed", UNHEALTHY, 1), _t("failed", UNHEALTHY, 2), _t("starting", at=3, desired="running")],
                 id="healthcheck-start-period-after-two-restarts"),
    pytest.param([_t("failed", EXIT_1, 1), _t("failed", EXIT_1, 2), _t("shutdown", at=3), _t("failed", EXIT_1, 4)],
                 id="a-task-that-ended-well-breaks-the-streak"),
    pytest.param([_t("orphaned", "node is down", s) for s in (1, 2, 3)], id="orphaned-is-not-the-tasks-doing"),
    pytest.param([_t("failed", EXIT_1, s) for s in (1, 2, 3)] + [_t("running", at=4, desired="running")],
                 id="running-now"),
]


@pytest.mark.parametrize(("tasks", "error"), GIVES_UP)
def test_tasks_failing_the_same_way_three_times_in_a_row_end_the_wait(tasks: list[dict[str, Any]], error: str) -> None:
    verdict = _verdict(tasks)
    assert verdict is not None and verdict.endswith(error)
    assert "3 tasks failed the same way" in verdict


@pytest.mark.parametrize("tasks", KEEPS_WAITING)
def test_an_ordinary_slow_start_keeps_waiting(tasks: list[dict[str, Any]]) -> None:
    assert _verdict(tasks) is None


def test_tasks_of_the_spec_before_an_upgrade_do_not_count() -> None:
    # the base crash-looped while its database came up; the upgrade began at :05
    old = [_t("failed", EXIT_1, s) for s in (1, 2, 3)]
    new = [_t("starting", at=6, desired="running")]
    assert _verdict(old + new, _updated_at(5)) is None
    # the same three failures after the update began are the new spec failing
    assert _verdict(old + [_t("failed", EXIT_1, s) for s in (6, 7, 8)], _updated_at(5)) is not None


def test_the_old_task_shut_down_by_an_upgrade_is_not_a_failure() -> None:
    tasks = [_t("shutdown", at=1), _t("failed", EXIT_1, 6), _t("failed", EXIT_1, 7), _t("starting", at=8, desired="running")]
    assert _verdict(tasks, _updated_at(5)) is None
    assert failure_streak(tasks) == FailureStreak(EXIT_1, 2, rejected=False)


def test_crashes_while_a_sibling_is_still_starting_take_twice_as_many() -> None:
    """An app crashing while its database comes up may just be early."""
    assert _verdict([_t("failed", EXIT_1, s) for s in range(1, 6)], siblings_converged=False) is None
    assert _verdict([_t("failed", EXIT_1, s) for s in range(1, 7)], siblings_converged=False) is not None
    # rejections never heal, siblings or not
    assert _verdict([_t("rejected", NO_IMAGE, s) for s in (1, 2, 3)], siblings_converged=False) is not None


def test_a_failed_update_is_reported_before_any_streak() -> None:
    progress = [service_progress("app", _service(1, update="rollback_completed"), [_t("running", desired="running")])]
    found = stuck(progress)
    assert found is not None and "rolled back" in found[1]


def test_streaks_are_ordered_by_creation_not_by_list_order() -> None:
    tasks = [_t("rejected", NO_IMAGE, 3), _t("failed", EXIT_1, 9), _t("rejected", NO_IMAGE, 1), _t("rejected", NO_IMAGE, 2)]
    assert failure_streak(tasks) == FailureStreak(EXIT_1, 1, rejected=False)


def test_the_progress_line_shows_each_waiting_services_latest_task_error() -> None:
    app = service_progress("app", _service(1), [_t("rejected", NO_IMAGE, 1), _t("pending", at=2, desired="running")])
    db = service_progress("db", _service(1), [_t("failed", EXIT_1, 1), _t("starting", at=2, desired="running")])
    web = service_progress("web", _service(1), [_t("running", at=1, desired="running")])
    assert waiting_line([app, db, web]) == f"app 0/1 ({NO_IMAGE}), db 0/1 ({EXIT_1})"


def test_the_old_task_still_running_before_swarm_starts_the_update_is_not_convergence() -> None:
    template = {"ContainerSpec": {"Image": "app:1.1"}, "ForceUpdate": 0, "Runtime": "container"}
    service = {"Spec": {"Mode": {"Replicated": {"Replicas": 1}}, "TaskTemplate": template}}  # no UpdateStatus yet
    old = {"DesiredState": "running", "Status": {"State": "running"},
           "Spec": {"ContainerSpec": {"Image": "app:1.0"}, "ForceUpdate": 0}}
    new = {"DesiredState": "running", "Status": {"State": "running"},
           "Spec": {"ContainerSpec": {"Image": "app:1.1"}, "ForceUpdate": 0}}
    assert service_progress("app", service, [old]).converged is False
    assert service_progress("app", service, [old]).running == 0
    assert service_progress("app", service, [new]).converged is True
