"""notes-tiny after install: the app reaches its database by service name, every page is behind
the login, the database and the worker run, and the app env is the deployed ref's own."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from runner.recipe import git
from runner.recipe.envfile import parse_env
from runner.run.app import App, Deployment


def _advances(read: Callable[[], int], within_s: float = 5.0) -> bool:
    first, deadline = read(), time.monotonic() + within_s
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if read() > first:
            return True
    return False


def test_the_app_reaches_its_database_by_service_name(exec_in: Any) -> None:
    # what the app's start-up and healthcheck do: look `db` up, then GET its heartbeat
    result = exec_in("app", ["db-reachable"], check=False)
    assert result.exit_code == 0, f"the app cannot reach db:5432: {result.stderr.strip()}"


def test_every_page_is_behind_the_login(http: httpx.Client, exec_in: Any, deployment: Deployment) -> None:
    password = exec_in("app", ["cat", "/run/secrets/admin_password"]).stdout
    assert len(password) == 24  # SECRET_ADMIN_PASSWORD_VERSION's `# length=24`
    assert http.get("/").status_code == 401
    assert http.get("/", auth=("admin", "not-the-password")).status_code == 401
    page = http.get("/", auth=("admin", password))
    assert page.status_code == 200
    upstream = deployment.version.split("+", 1)[1]  # 1.1.0+1.1 -> 1.1, the image's version
    assert f"<h1>notes-tiny {upstream}</h1>" in page.text


def test_the_database_answers_and_keeps_writing(exec_in: Any) -> None:
    def heartbeat() -> int:
        return int(exec_in("db", ["wget", "-q", "-O", "-", "http://127.0.0.1:5432/heartbeat"]).stdout)
    assert _advances(heartbeat)


def test_the_worker_runs_without_http_or_healthcheck(exec_in: Any) -> None:
    assert _advances(lambda: int(exec_in("worker", ["cat", "/tmp/worker-rounds"]).stdout))


def test_the_app_env_is_the_deployed_refs_env_sample(app: App, deployment: Deployment) -> None:
    # the base's own env when an upgrade run installs the base (it has no API token), the head's otherwise
    sample = git.show_file(app.checkout, deployment.commit, ".env.sample")
    assert sample is not None
    expected = {k for k in parse_env(sample).values if k.startswith("SECRET_")}
    assert {k for k in app.env if k.startswith("SECRET_")} == expected
    assert {s.name for s in app.secrets} == {k.removeprefix("SECRET_").removesuffix("_VERSION").lower()
                                             for k in expected}
