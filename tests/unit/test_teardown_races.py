"""Teardown, the leftover check and the convergence wait survive swarm removing things under them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from docker.errors import NotFound

from runner.drivers.swarm.driver import SwarmDriver
from runner.errors import ConvergenceError, InfraError
from runner.run.app import App
from runner.run.config import DriverSettings
from runner.swarm import progress
from runner.swarm.progress import stack_progress
from runner.swarm.stack import is_gone, remove_stack, stack_leftovers
from tests.unit.fake_docker import FakeClient, in_use, server_error
from tests.unit.fake_driver import FakeTarget

STACK = "app-1234_ccci_test"


@pytest.fixture
def client() -> FakeClient:
    """One deployed app (two containers, one being replaced) next to someone else's stack."""
    fake = FakeClient()
    api = fake.api
    api.add("service", f"{STACK}_app", STACK)
    api.add("container", f"{STACK}_app.1.aaa", STACK)
    api.add("container", f"{STACK}_app.1.bbb", STACK)
    api.add("volume", f"{STACK}_content", STACK)
    api.add("network", f"{STACK}_default", STACK)
    api.add("config", f"{STACK}_httpd_conf_v2", STACK)
    api.add("secret", f"{STACK}_admin_password_v1", **{"cc-ci.stack": STACK})  # ours, external to the stack
    api.add("volume", f"{STACK}_made_by_hand")  # named after the stack: ours too
    api.add("service", "other_app", "other")
    api.add("container", "other_app.1.ccc", "other")
    api.add("volume", f"x{STACK}_lookalike")  # the name filter matched, but it is not ours
    return fake


def _others() -> list[str]:
    return ["container other_app.1.ccc", "service other_app", f"volume x{STACK}_lookalike"]


def test_teardown_removes_every_kind_and_leaves_other_stacks_alone(client: FakeClient) -> None:
    assert remove_stack(client, STACK) == []  # type: ignore[arg-type]
    assert client.api.names() == _others()


def test_containers_that_swarm_removed_in_between_are_progress_not_a_crash(client: FakeClient) -> None:
    api = client.api
    first = next(o for o in api.objects if o.name == f"{STACK}_app.1.aaa")
    # swarm reaps the first container right after we listed it: our removal gets a 404
    api.after["list_container"] = lambda engine: engine.objects.remove(first)
    assert remove_stack(client, STACK) == []  # type: ignore[arg-type]
    assert api.names() == _others()


def test_already_gone_is_recognised_in_every_wording_the_engine_uses() -> None:
    assert is_gone(NotFound("secret not found"))
    assert is_gone(server_error("No such container: 0a1b2c"))  # a 500 from a list that inspects
    assert not is_gone(in_use("volume app_content"))
    assert not is_gone(server_error("context deadline exceeded"))


def test_teardown_never_uses_listings_that_inspect_each_container(client: FakeClient) -> None:
    with pytest.raises(NotFound):
        client.containers.list(all=True)  # what the stand-in does to code that still uses it
    assert remove_stack(client, STACK) == []  # type: ignore[arg-type]
    assert stack_leftovers(client, STACK) == []  # type: ignore[arg-type]


def test_volumes_and_networks_in_use_are_retried_until_the_containers_are_gone(client: FakeClient) -> None:
    api = client.api
    # the first container removal fails once (removal already in progress): the next pass retries
    api.script[("remove_container", "")] = [server_error("removal of container aaa is already in progress")]
    assert remove_stack(client, STACK) == []  # type: ignore[arg-type]
    assert api.calls.count("remove_volume") >= 3  # tried while in use, then again
    assert api.names() == _others()


def test_a_busy_engine_failing_a_listing_is_retried(client: FakeClient) -> None:
    client.api.script[("list_container", "")] = [server_error("context deadline exceeded")]
    assert remove_stack(client, STACK) == []  # type: ignore[arg-type]


def test_what_cannot_be_removed_is_reported_not_raised(client: FakeClient) -> None:
    api = client.api
    api.script[("remove_config", "")] = [server_error("raft unavailable")] * 1000
    started = time.monotonic()
    left = remove_stack(client, STACK, deadline_s=0.5)  # type: ignore[arg-type]
    assert left == [f"config {STACK}_httpd_conf_v2"]
    assert time.monotonic() - started < 2


def test_the_leftover_check_lists_again_after_the_last_removal(client: FakeClient) -> None:
    """A removal that reports success proves nothing: only a listing that finds nothing does."""
    api = client.api
    stubborn = next(o for o in api.objects if o.name == f"{STACK}_content")
    api.stubborn.add(stubborn.id)
    assert remove_stack(client, STACK, deadline_s=0.3) == [f"volume {STACK}_content"]  # type: ignore[arg-type]


def test_progress_of_a_service_removed_while_listing_its_tasks_is_empty_not_a_crash(client: FakeClient) -> None:
    client.api.script[("tasks", "")] = [NotFound("service app not found")]
    progress = stack_progress(STACK, client)  # type: ignore[arg-type]
    assert [(p.service, p.running, p.converged) for p in progress] == [(f"{STACK}_app", 0, False)]


# -- the convergence wait --------------------------------------------------------------------------

NO_IMAGE = "No such image: ccci-local/custom-html-tiny:9.9"


def _rejected(second: int) -> dict[str, Any]:
    stamp = f"2026-01-01T00:00:{second:02d}Z"
    return {"DesiredState": "shutdown", "CreatedAt": stamp,
            "Status": {"State": "rejected", "Timestamp": stamp, "Err": NO_IMAGE, "ContainerStatus": {}}}


def _driver(client: FakeClient, monkeypatch: pytest.MonkeyPatch, said: list[str]) -> SwarmDriver:
    monkeypatch.setattr(SwarmDriver, "client", property(lambda self: client))
    return SwarmDriver(DriverSettings(), FakeTarget(), say=said.append)  # type: ignore[arg-type]


def _app(tmp_path: Path) -> App:
    (tmp_path / "logs").mkdir()
    return App(recipe="r", run_id="1234", domain="d", stack=STACK, checkout=tmp_path, run_dir=tmp_path, env={})


def test_the_wait_ends_at_once_with_the_task_error_when_tasks_keep_being_rejected(
    client: FakeClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    client.api.tasks_of[f"{STACK}_app"] = [_rejected(s) for s in (1, 2, 3)]
    said: list[str] = []
    started = time.monotonic()
    with pytest.raises(ConvergenceError) as raised:
        _driver(client, monkeypatch, said).wait_converged(_app(tmp_path))
    assert time.monotonic() - started < 1  # the default timeout is 120 s
    message = str(raised.value)
    assert message.startswith(f"service {STACK}_app gave up: its last 3 tasks failed the same way: {NO_IMAGE}")
    assert f"task errors: {NO_IMAGE}" in message and "last log lines: httpd: started" in message
    assert (tmp_path / "logs" / f"convergence-{STACK}_app.log").read_text().strip() == message


def test_the_progress_line_names_the_latest_task_error(
    client: FakeClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    client.api.tasks_of[f"{STACK}_app"] = [_rejected(1)]  # one rejection: keep waiting, and say why
    monkeypatch.setattr(progress, "PROGRESS_EVERY_S", 0.0)
    monkeypatch.setattr(progress, "COLD_POLL_S", 0.05)
    said: list[str] = []
    driver = _driver(client, monkeypatch, said)
    monkeypatch.setattr(progress, "stack_timeout_s", lambda stack, services, default_s: 1)
    with pytest.raises(ConvergenceError, match="did not converge within 1s"):
        driver.wait_converged(_app(tmp_path))
    assert said and all(line.endswith(f"{STACK}_app 0/1 ({NO_IMAGE})") for line in said)


def test_describing_a_failure_survives_the_service_and_its_containers_vanishing(
    client: FakeClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    api = client.api
    api.tasks_of[f"{STACK}_app"] = [{**_rejected(1), "Status": {**_rejected(1)["Status"],
                                                               "ContainerStatus": {"ContainerID": "c1"}}}]
    api.script[("service_logs", "")] = [NotFound("service gone")]
    driver = _driver(client, monkeypatch, [])
    progress = stack_progress(STACK, client)[0]  # type: ignore[arg-type]
    message = driver._describe_failure(_app(tmp_path), progress, "did not converge")
    assert message == f"service {STACK}_app did not converge — task errors: {NO_IMAGE}"
    assert "inspect_container" in api.calls  # its container was looked for, and was gone


def test_a_kind_that_cannot_be_listed_never_stops_the_others_and_is_reported_as_may_be_left(
    client: FakeClient
) -> None:
    """The link to the engine is lost for the volumes' listing (past its reconnect bound) for the
    whole teardown: everything else is still removed and checked, and the volumes are named."""
    lost = InfraError("the SSH link to ssh://root@h:22 is lost: no connection within 60s (7 attempts; last: refused)")
    client.api.script[("list_volume", "")] = [lost] * 1000
    left = remove_stack(client, STACK, deadline_s=0.5)  # type: ignore[arg-type]
    assert left == [f"unknown: any volume of {STACK} (could not list them: {lost})"]
    assert client.api.names() == sorted([*_others(), f"volume {STACK}_content", f"volume {STACK}_made_by_hand"])
    assert stack_leftovers(client, STACK) == left  # type: ignore[arg-type]


def test_a_kind_lost_after_it_was_listed_names_what_it_last_held(client: FakeClient) -> None:
    api = client.api

    def lose_the_link_after_the_first_pass(engine: Any) -> None:  # networks are listed twice a pass
        engine.after["list_network"] = lambda again: again.script.update(
            {("list_network", ""): [RuntimeError("Socket is closed")] * 1000})

    api.after["list_network"] = lose_the_link_after_the_first_pass
    api.script[("remove_network", "")] = [RuntimeError("Socket is closed")] * 1000
    left = remove_stack(client, STACK, deadline_s=0.5)  # type: ignore[arg-type]
    assert left == [f"network {STACK}_default", f"unknown: any network of {STACK} (could not list them: Socket is closed)"]
    assert f"volume {STACK}_content" not in api.names(), "the others were removed meanwhile"


def test_an_engine_out_of_reach_after_its_own_retries_is_given_up_after_a_second_try_not_at_the_deadline(
    client: FakeClient
) -> None:
    lost = InfraError("the SSH link to ssh://root@h:22 is lost: no connection within 60s (8 attempts; last: refused)")
    for kind in ("service", "container", "volume", "secret", "config", "network"):
        client.api.script[(f"list_{kind}", "")] = [lost] * 1000
    started = time.monotonic()
    left = remove_stack(client, STACK, deadline_s=30)  # type: ignore[arg-type]
    assert time.monotonic() - started < 5
    assert left == [f"unknown: any service, container, volume, secret, config or network of {STACK} "
                    f"(could not list them: {lost})"]
    assert client.api.calls.count("list_service") == 2, "tried again once, after the first bounded attempt"


def test_a_busy_engine_failing_every_listing_is_tried_until_the_deadline(client: FakeClient) -> None:
    for kind in ("service", "container", "volume", "secret", "config", "network"):
        client.api.script[(f"list_{kind}", "")] = [server_error("context deadline exceeded")] * 1000
    started = time.monotonic()
    left = remove_stack(client, STACK, deadline_s=0.5)  # type: ignore[arg-type]
    assert time.monotonic() - started >= 0.5 and client.api.calls.count("list_service") > 2
    (line,) = left
    assert line.startswith(f"unknown: any service, container, volume, secret, config or network of {STACK} "
                           "(could not list them: 500 Server Error") and "context deadline exceeded" in line
