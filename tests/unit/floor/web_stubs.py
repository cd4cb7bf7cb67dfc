"""Stubs for the install and upgrade floors' unit tests: an app, a target that serves scripted HTTP
answers per (service, port) and given labels, and the assertion fixtures (`serving`,
`web_services`) computed from them by cc-ci's own `tests/conftest.py`."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

from runner.evidence.serving import Answer
from runner.maintainer.meta import RecipeMeta
from runner.plumbing.paths import TESTS_DIR
from runner.recipe.traefik import WebService
from runner.run.app import App, Deployment
from tests.unit.floor.support import fixture_function

DOMAIN = "app.test"
STACK = "app_test"
REFUSED = httpx.ConnectError("[Errno 111] Connection refused")

Outcome = int | Exception


def app() -> App:
    return App(recipe="recipe", run_id="r1", domain=DOMAIN, stack=STACK, checkout=Path("/nowhere"),
               run_dir=Path("/nowhere"), env={"DOMAIN": DOMAIN})


def web(port: int = 80, rule: str = f"Host(`{DOMAIN}`)", router: str = "app", **extra: str) -> dict[str, str]:
    """The deploy labels of a web-facing service with one router."""
    return {"traefik.enable": "true", f"traefik.http.routers.{router}.rule": rule,
            f"traefik.http.services.{router}.loadbalancer.server.port": str(port), **extra}


class StubTarget:
    """Labels as given; each (service, port) answers its script in turn (the last one repeats)."""

    def __init__(self, labels: dict[str, dict[str, str]], answers: dict[tuple[str, int], list[Outcome]] | None = None,
                 unconverged: list[str] | None = None) -> None:
        self.labels = labels
        self.answers = answers or {}
        self._unconverged = unconverged or []
        self.requests: list[tuple[str, int, str, str]] = []  # service, port, path, Host

    def service_labels(self, app: App) -> dict[str, dict[str, str]]:
        return self.labels

    def unconverged(self, app: App) -> list[str]:
        return list(self._unconverged)

    def http_client(self, app: App, service: str | None = None, port: int | None = None, *,
                    retry_s: float = 0.0) -> httpx.Client:
        assert service is not None and port is not None, "the floor probes each service on its own port"
        script = self.answers.get((service, port), [REFUSED])  # nothing listens there

        def handle(request: httpx.Request) -> httpx.Response:
            self.requests.append((service, port, request.url.path, request.headers["host"]))
            outcome = script.pop(0) if len(script) > 1 else script[0]
            if isinstance(outcome, Exception):
                raise outcome
            return httpx.Response(outcome)
        return httpx.Client(transport=httpx.MockTransport(handle), base_url=f"http://{service}:{port}")


def deployment(labels: dict[str, str] | None = None, timeout_s: float = 3.0) -> Deployment:
    return Deployment(ref="r", commit="c" * 40, version="1.0.0+1.0", chaos=False, labels=labels or {},
                      duration_s=1.0, timeout_s=timeout_s)


def _conftest() -> ModuleType:
    """cc-ci's assertion fixtures (tests/conftest.py) as a fresh module."""
    spec = importlib.util.spec_from_file_location("ccci_assertion_fixtures", TESTS_DIR / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FIXTURES = _conftest()


def fixtures(target: StubTarget, timeout_s: float = 3.0, health_path: str = "/") -> dict[str, Any]:
    """What the assertion fixtures give a floor test for this target: `web_services`, `serving`."""
    the_app = app()
    services: list[WebService] = fixture_function(FIXTURES, "web_services")(the_app, target)
    serving: list[Answer] = fixture_function(FIXTURES, "serving")(
        the_app, target, RecipeMeta.model_validate({"HEALTH_PATH": health_path}), services, deployment(timeout_s=timeout_s))
    return {"app": the_app, "web_services": services, "serving": serving}
