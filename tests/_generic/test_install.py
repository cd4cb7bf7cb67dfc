"""The generic floor after install: true for every recipe."""

from __future__ import annotations

import httpx

from runner.harness.app import App
from runner.harness.meta import RecipeMeta
from runner.harness.opstate import OpState


def test_the_app_was_deployed_exactly_once(op_state: OpState) -> None:
    assert op_state["install"].deploy_count == 1


def test_every_service_converged(unconverged: list[str]) -> None:
    assert not unconverged, "; ".join(unconverged)


def test_the_app_answers_http_on_its_domain(health: httpx.Response, app: App, meta: RecipeMeta) -> None:
    assert health.status_code in (200, 301, 302), (
        f"GET {meta.HEALTH_PATH} with Host: {app.domain} answered {health.status_code}")


def test_the_deployed_version_label_is_the_version_installed(
    app: App, deployed_labels: dict[str, str], op_state: OpState
) -> None:
    installed = op_state["install"].deployment
    assert installed is not None
    labelled = deployed_labels
    assert labelled.get(f"coop-cloud.{app.stack}.version") == installed.version
    if installed.chaos:
        assert labelled.get(f"coop-cloud.{app.stack}.chaos-version") == installed.commit[:8]
    else:
        assert f"coop-cloud.{app.stack}.chaos-version" not in labelled
