"""The idempotence check: the pure diff of two readings of the app's services
(`runner/evidence/specdiff.py`) names the service and the spec field that changed, and the floor
(`tests/_generic/test_idempotent.py`) fails on what it records, passing an unchanged redeploy
(whose spec version rose: docker bumps it on every `docker stack deploy`)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from runner.evidence.specdiff import ServiceReading, field_changes, restarted_tasks, spec_changes
from runner.ops.idempotent import IdempotentRecord
from runner.run.opstate import OpState
from tests.unit.floor.support import load_floor

floor = load_floor("idempotent")
STACK = "app_ccci_test"


def _spec(config: str = f"{STACK}_httpd_conf_v1") -> dict[str, Any]:
    """The shape of docker's service Spec, as `docker service inspect` reports it."""
    return {"Name": f"{STACK}_app",
            "Labels": {"com.docker.stack.namespace": STACK, "traefik.enable": "true"},
            "TaskTemplate": {"ContainerSpec": {
                "Image": "ccci-local/custom-html-tiny:1.0", "Env": ["DOMAIN=app.ccci.test"],
                "Configs": [{"File": {"Name": "/etc/httpd.conf", "Mode": 292}, "ConfigID": "cfg1",
                             "ConfigName": config}]}, "ForceUpdate": 0},
            "Mode": {"Replicated": {"Replicas": 1}}}


def _readings(spec: dict[str, Any] | None = None, tasks: tuple[str, ...] = ("task1",),
              service_id: str = "svc1") -> dict[str, ServiceReading]:
    return {"app": ServiceReading(id=service_id, spec=spec if spec is not None else _spec(), tasks=tasks),
            "db": ServiceReading(id="svc2", spec={"Name": f"{STACK}_db"}, tasks=("task2",))}


# -- the pure diff ---------------------------------------------------------------------------


def test_equal_specs_have_no_change() -> None:
    assert field_changes(_spec(), copy.deepcopy(_spec())) == []
    assert spec_changes(_readings(), _readings()) == {}
    assert restarted_tasks(_readings(), _readings()) == {}


def test_a_config_renamed_per_deploy_is_named_by_its_field_path() -> None:
    after = _readings(_spec(f"{STACK}_httpd_conf_v1_1733079370"))
    assert spec_changes(_readings(), after) == {"app": [
        f"TaskTemplate.ContainerSpec.Configs[0].ConfigName changed: {STACK}_httpd_conf_v1 -> "
        f"{STACK}_httpd_conf_v1_1733079370"]}


def test_a_label_key_with_dots_is_quoted_and_additions_and_removals_are_said() -> None:
    after = _spec()
    after["Labels"]["coop-cloud.deployed-at"] = "2026-12-01T18:00:00Z"
    del after["Labels"]["traefik.enable"]
    after["TaskTemplate"]["ContainerSpec"]["Env"].append("STAMP=2")
    assert field_changes(_spec(), after) == [
        'Labels["traefik.enable"] removed (was true)',
        'Labels["coop-cloud.deployed-at"] added: 2026-12-01T18:00:00Z',
        "TaskTemplate.ContainerSpec.Env[1] added: STAMP=2"]


def test_a_changed_number_and_a_long_value_are_shown_shortened() -> None:
    after = _spec()
    after["TaskTemplate"]["ForceUpdate"] = 1
    after["TaskTemplate"]["ContainerSpec"]["Image"] = "x" * 200
    lines = field_changes(_spec(), after)
    assert lines[0].startswith("TaskTemplate.ContainerSpec.Image changed: ccci-local/custom-html-tiny:1.0 -> xxx")
    assert len(lines[0]) < 160 and lines[0].endswith("…")
    assert lines[1] == "TaskTemplate.ForceUpdate changed: 0 -> 1"


def test_a_service_created_again_appearing_or_gone_is_a_change() -> None:
    assert spec_changes(_readings(), _readings(service_id="svc9")) == {
        "app": ["the service was removed and created again (id svc1 -> svc9)"]}
    fewer = {"app": _readings()["app"]}
    assert spec_changes(_readings(), fewer) == {"db": ["the service is gone after the redeploy"]}
    assert spec_changes(fewer, _readings()) == {"db": ["the service was created by the redeploy"]}


def test_a_replaced_running_task_is_a_restart() -> None:
    assert restarted_tasks(_readings(), _readings(tasks=("task9",))) == {
        "app": "1 running task(s) replaced: task1 -> task9"}
    assert restarted_tasks(_readings(tasks=("task1", "task3")), _readings(tasks=("task1",))) == {
        "app": "1 running task(s) replaced: task3 -> none"}


# -- the floor over the op's record -----------------------------------------------------------


def _state(changed: dict[str, list[str]] | None = None, restarted: dict[str, str] | None = None,
           deploy_count: int = 1, services: list[str] | None = None) -> OpState:
    record = IdempotentRecord(op="idempotent", deploy_count=deploy_count, redeployed="1.0.0+1.0",
                              services=["app", "db"] if services is None else services,
                              changed=changed or {}, restarted=restarted or {})
    return OpState(run_id="r1", recipe="recipe", head_commit="f" * 40, ops={"idempotent": record})


def test_an_unchanged_redeploy_passes_the_floor() -> None:
    state = _state()
    floor.test_the_redeploy_changed_no_service_spec(state)
    floor.test_the_redeploy_restarted_no_task(state)
    floor.test_the_redeploy_kept_the_app_deployed_once(state)


def test_a_changed_spec_fails_naming_the_service_and_the_field() -> None:
    changed = spec_changes(_readings(), _readings(_spec(f"{STACK}_httpd_conf_v1_2")))
    with pytest.raises(AssertionError, match=r"redeploying 1\.0\.0\+1\.0 unchanged changed the spec of 1 "
                                             r"service\(s\): app: TaskTemplate\.ContainerSpec\.Configs\[0\]"
                                             r"\.ConfigName changed: .*_v1 -> .*_v1_2"):
        floor.test_the_redeploy_changed_no_service_spec(_state(changed=changed))


def test_a_restarted_task_fails_naming_the_service() -> None:
    restarted = restarted_tasks(_readings(), _readings(tasks=("task9",)))
    with pytest.raises(AssertionError, match="restarted tasks: app: 1 running task"):
        floor.test_the_redeploy_restarted_no_task(_state(restarted=restarted))


def test_a_second_stack_or_nothing_compared_fails() -> None:
    with pytest.raises(AssertionError, match="created 2 times"):
        floor.test_the_redeploy_kept_the_app_deployed_once(_state(deploy_count=2))
    with pytest.raises(AssertionError, match="compared no service"):
        floor.test_the_redeploy_kept_the_app_deployed_once(_state(services=[]))
