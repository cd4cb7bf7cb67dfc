"""The install floor (`tests/_generic/test_install.py`) called with stubbed labels, HTTP answers and
op state: each assertion fails on the broken case and passes on the edge cases of a correct
recipe (a login page, a 303, a service still booting, two web services, a second domain)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from runner.run.opstate import OpRecord, OpState
from tests.unit.floor.support import load_floor
from tests.unit.floor.web_stubs import (
    DOMAIN,
    REFUSED,
    STACK,
    StubTarget,
    app,
    deployment,
    fixtures,
    web,
)

floor = load_floor("install")


def _serving_ok(target: StubTarget, timeout_s: float = 3.0) -> None:
    f = fixtures(target, timeout_s)
    floor.test_every_web_service_answers_http(f["serving"], f["web_services"])
    floor.test_a_router_sends_the_apps_domain_to_a_port_that_answers(f["app"], f["web_services"], f["serving"])
    floor.test_every_web_service_is_routed_under_a_host(f["web_services"])


def _serving_fails(target: StubTarget, timeout_s: float = 1.0) -> str:
    f = fixtures(target, timeout_s)
    with pytest.raises(AssertionError) as failed:
        floor.test_every_web_service_answers_http(f["serving"], f["web_services"])
    return str(failed.value)


@pytest.mark.parametrize("status", [200, 301, 302, 303, 307, 308, 401, 403, 404])
def test_any_answer_below_500_serves(status: int) -> None:
    target = StubTarget({"app": web()}, {("app", 80): [status]})
    _serving_ok(target)
    assert target.requests == [("app", 80, "/", DOMAIN)]  # one try: the fast path stays one request


def test_a_service_without_healthcheck_still_booting_is_waited_for() -> None:
    target = StubTarget({"app": web()}, {("app", 80): [REFUSED, 503, 200]})
    _serving_ok(target)
    assert len(target.requests) == 3


def test_the_health_path_is_requested_with_the_apps_host() -> None:
    target = StubTarget({"app": web(8080)}, {("app", 8080): [200]})
    f = fixtures(target, health_path="/healthz")
    floor.test_every_web_service_answers_http(f["serving"], f["web_services"])
    assert target.requests == [("app", 8080, "/healthz", DOMAIN)]


def test_a_server_error_until_the_deadline_fails_naming_service_path_status_and_time() -> None:
    message = _serving_fails(StubTarget({"app": web()}, {("app", 80): [500]}), timeout_s=0.6)
    assert "app: GET / on port 80 with Host: app.test (router app) answered 500, a server error" in message
    assert re.search(r"\((\d+) tries in (\d+\.\d)s\)$", message), message  # how long it tried


def test_a_refused_connection_until_the_deadline_fails_naming_the_error() -> None:
    message = _serving_fails(StubTarget({"app": web()}, {("app", 80): [REFUSED]}), timeout_s=0.0)
    assert "got no answer: ConnectError: [Errno 111] Connection refused (1 try in" in message


def test_every_web_service_is_probed_on_its_own_port() -> None:
    labels = {"app": web(), "admin": web(8080, f"Host(`{DOMAIN}`) && PathPrefix(`/admin`)", router="admin"),
              "db": {}}
    target = StubTarget(labels, {("app", 80): [200], ("admin", 8080): [401]})
    _serving_ok(target)
    assert sorted(target.requests) == [("admin", 8080, "/", DOMAIN), ("app", 80, "/", DOMAIN)]


def test_a_second_web_service_that_does_not_answer_fails() -> None:
    labels = {"app": web(), "admin": web(8080, f"Host(`{DOMAIN}`) && PathPrefix(`/admin`)", router="admin")}
    message = _serving_fails(StubTarget(labels, {("app", 80): [200], ("admin", 8080): [REFUSED]}), timeout_s=0.0)
    assert message.startswith("admin: GET / on port 8080")


def test_an_app_without_web_services_has_nothing_to_serve() -> None:
    f = fixtures(StubTarget({"worker": {}}))
    with pytest.raises(pytest.skip.Exception):
        floor.test_every_web_service_answers_http(f["serving"], f["web_services"])
    floor.test_every_web_service_is_routed_under_a_host(f["web_services"])


def test_a_misspelt_domain_variable_fails_the_routing_checks() -> None:
    # `Host(`${DOMIAN}`)`: compose interpolates the unset variable to nothing
    f = fixtures(StubTarget({"app": web(rule="Host(``)")}, {("app", 80): [200]}))
    floor.test_every_web_service_answers_http(f["serving"], f["web_services"])  # the container answers...
    with pytest.raises(AssertionError, match=f"no router of a web-facing service routes {DOMAIN}"):
        floor.test_a_router_sends_the_apps_domain_to_a_port_that_answers(f["app"], f["web_services"], f["serving"])
    with pytest.raises(AssertionError, match="routes no host: Host\\(``\\) names an empty one"):
        floor.test_every_web_service_is_routed_under_a_host(f["web_services"])


def test_a_router_port_where_nothing_listens_fails_the_domain_check() -> None:
    f = fixtures(StubTarget({"app": web(8080)}, {("app", 80): [200]}), timeout_s=0.0)  # listens on 80 only
    with pytest.raises(AssertionError, match="forward where the app did not answer \\(app -> app:8080\\)"):
        floor.test_a_router_sends_the_apps_domain_to_a_port_that_answers(f["app"], f["web_services"], f["serving"])


def test_a_router_without_a_port_fails_the_routing_check() -> None:
    labels = {"traefik.enable": "true", "traefik.http.routers.app.rule": f"Host(`{DOMAIN}`)"}
    f = fixtures(StubTarget({"app": labels}))
    with pytest.raises(AssertionError, match="traefik's swarm provider cannot detect one"):
        floor.test_every_web_service_is_routed_under_a_host(f["web_services"])


def test_a_second_domain_on_another_service_is_fine() -> None:
    labels = {"app": web(), "sandbox": web(81, "Host(`sandbox.test`)", router="sandbox")}
    target = StubTarget(labels, {("app", 80): [200], ("sandbox", 81): [200]})
    _serving_ok(target)
    assert ("sandbox", 81, "/", "sandbox.test") in target.requests


def test_every_service_converged() -> None:
    floor.test_every_service_converged([])
    with pytest.raises(AssertionError, match="db: 0/1 running"):
        floor.test_every_service_converged(["db: 0/1 running"])


def test_an_unconverged_service_fails_in_a_sentence_naming_it_and_what_was_expected() -> None:
    with pytest.raises(AssertionError) as failed:
        floor.test_every_service_converged(["db: 0/1 running", "app: 1/2 running"])
    assert str(failed.value).startswith(
        "after the install, 2 services of the app are not running every task of their spec: db: 0/1 running; "
        "app: 1/2 running (the op had seen every service converge, so a task stopped or restarted since"), failed.value


def _state(deploy_count: int = 1, chaos: bool = False, version: str = "1.0.0+1.0") -> OpState:
    labels = {f"coop-cloud.{STACK}.version": "1.0.0+1.0"}
    installed = deployment(labels).model_copy(update={"chaos": chaos, "version": version})
    return OpState(run_id="r1", recipe="recipe", head_commit="c" * 40,
                   ops={"install": OpRecord(op="install", deployment=installed, deploy_count=deploy_count)})


def _fails(check: Any, *args: Any) -> str:
    with pytest.raises(AssertionError) as failed:
        check(*args)
    return str(failed.value)


def test_the_install_created_the_stack_once() -> None:
    floor.test_the_install_created_the_stack_once(app(), _state(1))
    # the stack was there before the install
    assert _fails(floor.test_the_install_created_the_stack_once, app(), _state(0)) == (
        f"the install's deploy created the stack {STACK} 0 times, expected once: the stack was there before the "
        "install (a run's stack is its own, never reused)")
    assert _fails(floor.test_the_install_created_the_stack_once, app(), _state(2)) == (
        f"the install's deploy created the stack {STACK} 2 times, expected once")


def test_the_deployed_version_label_is_the_version_installed() -> None:
    version = f"coop-cloud.{STACK}.version"
    floor.test_the_deployed_version_label_is_the_version_installed(app(), {version: "1.0.0+1.0"}, _state())
    with pytest.raises(AssertionError):
        floor.test_the_deployed_version_label_is_the_version_installed(app(), {version: "0.9.0+0.9"}, _state())
    chaos = {version: "1.0.0+1.0", f"coop-cloud.{STACK}.chaos-version": "cccccccc"}
    floor.test_the_deployed_version_label_is_the_version_installed(app(), chaos, _state(chaos=True))
    with pytest.raises(AssertionError):
        floor.test_the_deployed_version_label_is_the_version_installed(app(), chaos, _state(chaos=False))


def test_the_old_version_label_is_named_with_its_fix() -> None:
    # older Co-op Cloud recipes: `coop-cloud.${STACK_NAME}.app.version=…`; a chaos install reads
    # its version from the label, so it found none ("unknown")
    old = {f"coop-cloud.{STACK}.app.version": "2.3.0+1.8", "traefik.enable": "true"}
    for state in (_state(chaos=True, version="unknown"), _state()):
        message = _fails(floor.test_the_deployed_version_label_is_the_version_installed, app(), old, state)
        assert message.startswith(
            f"the app's services carry no `coop-cloud.{STACK}.version` label, but the old form "
            f"`coop-cloud.{STACK}.app.version=2.3.0+1.8` (older Co-op Cloud recipes): rename it to "
            "`coop-cloud.${STACK_NAME}.version` in the compose file's deploy labels"), message
        assert "assert None ==" not in message.splitlines()[0]


def test_a_missing_version_label_says_what_to_add() -> None:
    message = _fails(floor.test_the_deployed_version_label_is_the_version_installed, app(), {}, _state())
    assert message.startswith(f"no service of the app carries the `coop-cloud.{STACK}.version` label: add "
                              "`coop-cloud.${STACK_NAME}.version=1.0.0+1.0` to the deploy labels of the recipe's "
                              "main service"), message
    chaos = _fails(floor.test_the_deployed_version_label_is_the_version_installed, app(), {},
                   _state(chaos=True, version="unknown"))
    assert "`coop-cloud.${STACK_NAME}.version=<the recipe version>`" in chaos, chaos


def test_a_version_label_that_is_not_the_release_names_both() -> None:
    message = _fails(floor.test_the_deployed_version_label_is_the_version_installed, app(),
                     {f"coop-cloud.{STACK}.version": "0.9.0+0.9"}, _state())
    assert message.startswith(f"the `coop-cloud.{STACK}.version` label is 0.9.0+0.9, yet the install deployed "
                              "release 1.0.0+1.0: a release's compose carries its own version (set it to 1.0.0+1.0 "
                              "in the commit tagged with it"), message


def test_the_chaos_version_labels_fail_naming_the_label_and_the_commit() -> None:
    version = {f"coop-cloud.{STACK}.version": "1.0.0+1.0"}
    message = _fails(floor.test_the_deployed_version_label_is_the_version_installed, app(), version,
                     _state(chaos=True))
    assert message.startswith(f"the install deployed commit cccccccc in chaos mode (not a release), yet the "
                              f"`coop-cloud.{STACK}.chaos-version` label is absent"), message
    message = _fails(floor.test_the_deployed_version_label_is_the_version_installed, app(),
                     {**version, f"coop-cloud.{STACK}.chaos-version": "cccccccc"}, _state())
    assert message.startswith(f"the install deployed release 1.0.0+1.0, yet the app carries "
                              f"`coop-cloud.{STACK}.chaos-version=cccccccc`, a chaos deploy's label: remove it"), message


def test_no_recorded_install_deployment_is_said() -> None:
    state = _state()
    state.ops["install"] = state.ops["install"].model_copy(update={"deployment": None})
    assert _fails(floor.test_the_deployed_version_label_is_the_version_installed, app(), {}, state).startswith(
        "op state records no deployment of the install")


def test_a_read_timeout_is_a_connection_error_too() -> None:
    target = StubTarget({"app": web()}, {("app", 80): [httpx.ReadTimeout("timed out"), 200]})
    _serving_ok(target)
