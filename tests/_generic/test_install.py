"""The generic floor after install: true for every recipe."""

from __future__ import annotations

from typing import Any

import httpx

from runner.harness.lifecycle import stack_progress, stack_services


def test_the_app_was_deployed_exactly_once(op_state: dict[str, Any]) -> None:
    assert op_state["install"]["deploy_count"] == 1


def test_every_service_converged(app: Any) -> None:
    progress = stack_progress(app.stack)
    assert progress, f"no services of stack {app.stack}"
    unconverged = [p for p in progress if not p.converged]
    assert not unconverged, "; ".join(f"{p.service}: {p.running}/{p.desired} running" for p in unconverged)


def test_the_app_answers_http_on_its_domain(http: httpx.Client, app: Any) -> None:
    response = http.get("/")
    assert response.status_code in (200, 301, 302), (
        f"GET / with Host: {app.domain} answered {response.status_code}")


def test_the_deployed_version_label_is_the_version_deployed(app: Any, deployment: dict[str, Any]) -> None:
    labelled = {}
    for service in stack_services(app.stack):
        labelled |= service.attrs["Spec"].get("Labels", {})
    version_label = labelled.get(f"coop-cloud.{app.stack}.version")
    assert version_label == deployment["version"]
    if deployment["chaos"]:
        assert labelled.get(f"coop-cloud.{app.stack}.chaos-version") == deployment["commit"][:8]
    else:
        assert f"coop-cloud.{app.stack}.chaos-version" not in labelled
