"""The generic floor after upgrade: the same app now runs the PR head, in place."""

from __future__ import annotations

import httpx

from runner.harness.app import App
from runner.harness.meta import RecipeMeta
from runner.harness.opstate import OpState


def test_the_upgrade_redeployed_the_same_app_in_place(op_state: OpState, app: App) -> None:
    assert op_state["upgrade"].deploy_count == 1, "an upgrade must not create a second app"
    assert app.deploy_count == 1


def test_every_service_converged(unconverged: list[str]) -> None:
    assert not unconverged, "; ".join(unconverged)


def test_the_app_answers_http_on_its_domain(health: httpx.Response, app: App, meta: RecipeMeta) -> None:
    assert health.status_code in (200, 301, 302), (
        f"GET {meta.HEALTH_PATH} with Host: {app.domain} answered {health.status_code}")


def test_the_deployed_chaos_version_is_the_pr_head(app: App, deployed_labels: dict[str, str], op_state: OpState) -> None:
    labels = deployed_labels
    assert labels.get(f"coop-cloud.{app.stack}.chaos") == "true"
    assert labels.get(f"coop-cloud.{app.stack}.chaos-version") == op_state.head_commit[:8], (
        f"the app runs {labels.get(f'coop-cloud.{app.stack}.chaos-version')}, not the PR head {op_state.head_commit[:8]}")


def test_the_version_label_moved_from_the_bases(app: App, deployed_labels: dict[str, str], op_state: OpState) -> None:
    installed = op_state["install"].deployment
    assert installed is not None and op_state.base is not None
    label = deployed_labels.get(f"coop-cloud.{app.stack}.version")
    assert label != installed.labels.get(f"coop-cloud.{app.stack}.version"), (
        f"the version label is still the base's ({label})")
