"""Fixtures for assertion files (tests/_generic, tests/<recipe>).

The orchestrator runs those files against a live app and points these fixtures at it through
CCCI_APP_FILE, CCCI_OP_STATE_FILE and CCCI_META_FILE. Fixtures only read: ops are the orchestrator's. They reach
the app only through the run's driver (chosen by name, as the orchestrator chose it).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

pytest_plugins = ("runner.harness.browsertest",)  # the `page` fixture of browser tests

from runner.drivers import create_driver
from runner.drivers.base import Driver
from runner.harness import traefik
from runner.harness.app import App, Deployment
from runner.harness.config import DriverSettings
from runner.harness.meta import RecipeMeta
from runner.harness.opstate import OpState
from runner.harness.proc import ExecResult
from runner.harness.serving import Answer, probe
from runner.harness.traefik import Target, WebService


def _required_file(var: str) -> Path:
    value = os.environ.get(var)
    if not value:
        pytest.fail(f"{var} is not set: assertion files run under the orchestrator "
                    "(python -m runner.run_recipe_ci), not on their own", pytrace=False)
    return Path(value)


@pytest.fixture(scope="session")
def app() -> App:
    """The live app: `domain`, `stack`, `recipe`, `env`, `secrets` (no values), `deploy_count`."""
    return App.from_description(json.loads(_required_file("CCCI_APP_FILE").read_text()))


@pytest.fixture(scope="session")
def driver(app: App) -> Driver:
    """The driver that deployed the app: `unconverged(app)`, `service_labels(app)`, ..."""
    return create_driver(app.driver, DriverSettings())


@pytest.fixture(scope="session")
def op_state() -> OpState:
    """What each op produced so far: `op_state["install"].deployment`, `op_state["upgrade"].seed`."""
    return OpState.load(_required_file("CCCI_OP_STATE_FILE"))


@pytest.fixture(scope="session")
def op() -> str:
    """The op just performed."""
    return os.environ.get("CCCI_OP", "install")


@pytest.fixture(scope="session")
def deployment(op_state: OpState) -> Deployment:
    """The newest deployment: what is live now."""
    latest = op_state.latest_deployment()
    if latest is None:
        pytest.fail("op state records no deployment", pytrace=False)
    return latest


@pytest.fixture(scope="session")
def meta() -> RecipeMeta:
    """The recipe's settings as the orchestrator validated them (`meta.HEALTH_PATH`, ...); a
    callable setting such as READY_PROBE is named here but runs only in the orchestrator."""
    return RecipeMeta.from_effective(json.loads(_required_file("CCCI_META_FILE").read_text()))


@pytest.fixture(scope="session")
def exec_in(app: App, driver: Driver) -> Callable[..., ExecResult]:
    """`exec_in(service, cmd, check=True)`: run a command in the service's running container.
    Assertion files never change the app, so a command whose output the engine lost runs again."""
    def run(service: str, cmd: list[str] | str, check: bool = True) -> ExecResult:
        return driver.exec_in(app, service, cmd, check=check, rerun_if_output_lost=True)
    return run


@pytest.fixture(scope="session")
def http(app: App, driver: Driver) -> Iterator[httpx.Client]:
    """An HTTP client for the app, as traefik would reach it (`Host: <domain>`)."""
    with driver.http_client(app) as client:
        yield client


@pytest.fixture(scope="session")
def unconverged(app: App, driver: Driver) -> list[str]:
    """One line per service of the app that has not converged; empty when all have."""
    return driver.unconverged(app)


@pytest.fixture(scope="session")
def web_services(app: App, driver: Driver) -> list[WebService]:
    """The app's web-facing services (`traefik.enable=true`, HTTP), each with its routers: the
    rule, the hosts it routes, the port it forwards to (`runner/harness/traefik.py`)."""
    return traefik.web_services(driver.service_labels(app))


@pytest.fixture(scope="session")
def serving(app: App, driver: Driver, meta: RecipeMeta, web_services: list[WebService],
            deployment: Deployment) -> list[Answer]:
    """How each place a router sends requests to (a service's containers on the router's port,
    with the host it routes) answered `GET <HEALTH_PATH>`: each is tried until it answers below
    500 or the deploy timeout has passed, so a service without a healthcheck may still boot."""
    deadline_s = deployment.timeout_s if deployment.timeout_s is not None else \
        meta.DEPLOY_TIMEOUT or DriverSettings().deploy_timeout_s
    started = time.monotonic()
    answers = []
    for target in traefik.serving_targets(web_services, app.domain):
        left_s = max(deadline_s - (time.monotonic() - started), 0.0)
        answers.append(probe(target, meta.HEALTH_PATH, _get(driver, app, target, meta.HEALTH_PATH), left_s))
    return answers


def _get(driver: Driver, app: App, target: Target, path: str) -> Callable[[], int]:
    def attempt() -> int:
        with driver.http_client(app, target.service, target.port) as client:
            return client.get(path, headers={"Host": target.host}).status_code
    return attempt


@pytest.fixture(scope="session")
def health(http: httpx.Client, meta: RecipeMeta) -> httpx.Response:
    """The app's answer to `GET <HEALTH_PATH>` (recipe_meta.py, default `/`) with `Host: <domain>`."""
    return http.get(meta.HEALTH_PATH)


@pytest.fixture(scope="session")
def deployed_labels(app: App, driver: Driver) -> dict[str, str]:
    """The deploy labels of every service of the app, merged (the version and chaos labels)."""
    merged: dict[str, str] = {}
    for labels in driver.service_labels(app).values():
        merged |= labels
    return merged
