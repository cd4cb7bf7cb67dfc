"""Fixtures for assertion files (tests/_generic, tests/<recipe>).

The orchestrator runs those files against a live app and points these fixtures at its run dir
through CCCI_RUN_DIR (`RunDir.tier_env`). Fixtures only read: ops are the orchestrator's. They reach
the app only through the run's own target (local, or the run's SSH connection) and driver, as
the run describes them in run.json: never a client or settings of their own.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from runner.drivers import create_driver
from runner.drivers.base import Driver
from runner.evidence.serving import Answer, probe
from runner.maintainer.meta import RecipeMeta
from runner.ops import LIFECYCLE
from runner.plumbing.proc import ExecResult
from runner.recipe import traefik
from runner.recipe.traefik import Target, WebService
from runner.run.app import App, Deployment
from runner.run.config import DriverSettings
from runner.run.deps import DEPS_VAR
from runner.run.opstate import OpState
from runner.run.rundir import OP_VAR, RUN_DIR_VAR, RunDir
from runner.targets import attach_target
from runner.targets.base import Target as SwarmTarget

pytest_plugins = ("runner.tiers.browsertest",)  # the `page` fixture of browser tests


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requires_deps(*names): the test needs these dependencies (DEPS) "
                                       "provided; red, never skipped, when one could not be")


def _deps_given() -> dict[str, Any]:
    """What the orchestrator handed the tier about the recipe's DEPS (`runner/run/deps.py`)."""
    text = os.environ.get(DEPS_VAR)
    return json.loads(text) if text else {"provided": {}, "failed": {}}  # type: ignore[no-any-return]


def pytest_runtest_setup(item: pytest.Item) -> None:
    given = _deps_given()
    for marker in item.iter_markers("requires_deps"):
        for name in marker.args:
            if name not in given["provided"]:
                why = given["failed"].get(name) or "it is not in the recipe's DEPS"
                pytest.fail(f"requires_deps: {name} could not be provided: {why}", pytrace=False)


@pytest.fixture(scope="session")
def run_dir() -> RunDir:
    """The run's files (`RunDir`): app.json, op_state.json, meta.json, run.json, ..."""
    found = RunDir.from_env()
    if found is None:
        pytest.fail(f"{RUN_DIR_VAR} is not set: assertion files run under the orchestrator "
                    "(python -m runner.run_recipe_ci), not on their own", pytrace=False)
    return found


@pytest.fixture(scope="session")
def run_description(run_dir: RunDir) -> dict[str, Any]:
    return json.loads(run_dir.run_json.read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def app(run_dir: RunDir) -> App:
    """The live app the tier asserts on: `domain`, `stack`, `recipe`, `env`, `secrets` (no values),
    `deploy_count`. The run's app, or the further app its op made (restore-fresh's fresh app)."""
    return App.from_description(json.loads(run_dir.tier_app_json().read_text()))


@pytest.fixture(scope="session")
def target(run_description: dict[str, Any]) -> Iterator[SwarmTarget]:
    """The run's own target: `exec_in(app, ...)`, `http_client(app, ...)`, `client` (docker), and
    what the swarm says of the app: `unconverged(app)`, `service_labels(app)`, `deployed_identity(app)`,
    `file_digests(app, [(volume, path)])`, `volume_files(app)`."""
    attached = attach_target(run_description["target"])
    yield attached
    attached.close()


@pytest.fixture(scope="session")
def driver(run_description: dict[str, Any], target: SwarmTarget) -> Driver:
    """The driver that deployed the app, with the run's settings (its reach is the `target`'s)."""
    return create_driver(run_description["driver"], DriverSettings(**run_description["driver_settings"]), target)


@pytest.fixture(scope="session")
def op_state(run_dir: RunDir) -> OpState:
    """What each op produced so far: `op_state["install"].deployment`, `op_state["upgrade"].seed`."""
    return OpState.load(run_dir.op_state, LIFECYCLE.records)  # each op's record by its own model


@pytest.fixture(scope="session")
def deps() -> dict[str, dict[str, str]]:
    """What each dependency's `provision` returned for this run, by name (`deps["sso-tiny"]["issuer"]`);
    a dependency that could not be provided is absent (mark the test `requires_deps` to make that red)."""
    return dict(_deps_given()["provided"])


@pytest.fixture(scope="session")
def op() -> str:
    """The op just performed."""
    return os.environ.get(OP_VAR, "install")


@pytest.fixture(scope="session")
def deployment(op_state: OpState) -> Deployment:
    """The newest deployment: what is live now."""
    latest = op_state.latest_deployment()
    if latest is None:
        pytest.fail("op state records no deployment", pytrace=False)
    return latest


@pytest.fixture(scope="session")
def meta(run_dir: RunDir) -> RecipeMeta:
    """The recipe's settings as the orchestrator validated them (`meta.HEALTH_PATH`, ...); a
    callable setting such as READY_PROBE is named here but runs only in the orchestrator."""
    return RecipeMeta.from_effective(json.loads(run_dir.meta_json.read_text()))


@pytest.fixture(scope="session")
def exec_in(app: App, target: SwarmTarget) -> Callable[..., ExecResult]:
    """`exec_in(service, cmd, check=True)`: run a command in the service's running container.
    Assertion files never change the app, so a command whose output the engine lost runs again."""
    def run(service: str, cmd: list[str] | str, check: bool = True) -> ExecResult:
        return target.exec_in(app, service, cmd, check=check, rerun_if_output_lost=True)
    return run


@pytest.fixture(scope="session")
def http(app: App, target: SwarmTarget) -> Iterator[httpx.Client]:
    """An HTTP client for the app, as traefik would reach it (`Host: <domain>`), through the run's target."""
    with target.http_client(app) as client:
        yield client


@pytest.fixture(scope="session")
def unconverged(app: App, target: SwarmTarget) -> list[str]:
    """One line per service of the app that has not converged; empty when all have."""
    return target.unconverged(app)


@pytest.fixture(scope="session")
def web_services(app: App, target: SwarmTarget) -> list[WebService]:
    """The app's web-facing services (`traefik.enable=true`, HTTP), each with its routers: the
    rule, the hosts it routes, the port it forwards to (`runner/recipe/traefik.py`)."""
    return traefik.web_services(target.service_labels(app))


@pytest.fixture(scope="session")
def serving(app: App, target: SwarmTarget, meta: RecipeMeta, web_services: list[WebService],
            deployment: Deployment) -> list[Answer]:
    """How each place a router sends requests to (a service's containers on the router's port,
    with the host it routes) answered `GET <HEALTH_PATH>`: each is tried until it answers below
    500 or the deploy timeout has passed, so a service without a healthcheck may still boot."""
    deadline_s = deployment.timeout_s if deployment.timeout_s is not None else \
        meta.DEPLOY_TIMEOUT or DriverSettings().deploy_timeout_s
    started = time.monotonic()
    answers = []
    for place in traefik.serving_targets(web_services, app.domain):
        left_s = max(deadline_s - (time.monotonic() - started), 0.0)
        answers.append(probe(place, meta.HEALTH_PATH, _get(target, app, place, meta.HEALTH_PATH), left_s))
    return answers


def _get(target: SwarmTarget, app: App, place: Target, path: str) -> Callable[[], int]:
    def attempt() -> int:
        with target.http_client(app, place.service, place.port) as client:
            return client.get(path, headers={"Host": place.host}).status_code
    return attempt


@pytest.fixture(scope="session")
def health(http: httpx.Client, meta: RecipeMeta) -> httpx.Response:
    """The app's answer to `GET <HEALTH_PATH>` (recipe_meta.py, default `/`) with `Host: <domain>`."""
    return http.get(meta.HEALTH_PATH)


@pytest.fixture(scope="session")
def deployed_labels(app: App, target: SwarmTarget) -> dict[str, str]:
    """The deploy labels of every service of the app, merged (the version and chaos labels)."""
    merged: dict[str, str] = {}
    for labels in target.service_labels(app).values():
        merged |= labels
    return merged
