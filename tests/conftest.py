"""Fixtures for assertion files (tests/_generic, tests/<recipe>).

The orchestrator runs those files against a live app and points these fixtures at it through
CCCI_APP_FILE and CCCI_OP_STATE_FILE. Fixtures only read: ops are the orchestrator's.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.harness import lifecycle


@dataclass(frozen=True)
class LiveApp:
    recipe: str
    domain: str
    stack: str
    env: dict[str, str]
    secrets: list[dict[str, Any]]

    def service_name(self, service: str) -> str:
        return f"{self.stack}_{service}"


def _required_file(var: str) -> Path:
    value = os.environ.get(var)
    if not value:
        pytest.fail(f"{var} is not set: assertion files run under the orchestrator "
                    "(python -m runner.run_recipe_ci), not on their own", pytrace=False)
    return Path(value)


@pytest.fixture(scope="session")
def app() -> LiveApp:
    data = json.loads(_required_file("CCCI_APP_FILE").read_text())
    return LiveApp(data["recipe"], data["domain"], data["stack"], data["env"], data["secrets"])


@pytest.fixture(scope="session")
def op_state() -> dict[str, Any]:
    """What each op produced so far, keyed by op (e.g. op_state["install"]["deployment"])."""
    path = _required_file("CCCI_OP_STATE_FILE")
    return json.loads(path.read_text()) if path.exists() else {}


@pytest.fixture(scope="session")
def op() -> str:
    return os.environ.get("CCCI_OP", "install")


@pytest.fixture(scope="session")
def deployment(op_state: dict[str, Any]) -> dict[str, Any]:
    """The newest deployment: what is live now."""
    deployed = [state["deployment"] for state in op_state.values() if "deployment" in state]
    if not deployed:
        pytest.fail("op state records no deployment", pytrace=False)
    return deployed[-1]


@pytest.fixture(scope="session")
def meta(app: LiveApp) -> dict[str, Any]:
    """`META` from tests/<recipe>/recipe_meta.py, or {} when the recipe has none."""
    path = Path(__file__).parent / app.recipe / "recipe_meta.py"
    if not path.is_file():
        return {}
    spec = importlib.util.spec_from_file_location(f"recipe_meta_{app.recipe.replace('-', '_')}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(getattr(module, "META", {}))


@pytest.fixture(scope="session")
def exec_in(app: LiveApp) -> Callable[..., lifecycle.ExecResult]:
    """`exec_in(service, cmd, check=True)`: run a command in the service's running container."""
    def run(service: str, cmd: list[str] | str, check: bool = True) -> lifecycle.ExecResult:
        return lifecycle.exec_in_app(app.stack, service, cmd, check=check)
    return run


@pytest.fixture(scope="session")
def http(app: LiveApp) -> Iterator[httpx.Client]:
    """An HTTP client for the app, as traefik would reach it (`Host: <domain>`)."""
    with lifecycle.http_client(app.stack, app.domain) as client:
        yield client
