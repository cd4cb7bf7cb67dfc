"""The generic floor after install: true for every recipe (docs/generic-floor.md says why)."""

from __future__ import annotations

import pytest

from runner.evidence.converged import not_converged
from runner.evidence.labels import installed_version_problem
from runner.evidence.serving import Answer, domain_unserved
from runner.recipe import traefik
from runner.recipe.traefik import WebService
from runner.run.app import App
from runner.run.opstate import OpState


def test_the_install_created_the_stack_once(app: App, op_state: OpState) -> None:
    # counted by the driver from docker's side: a deploy that found no stack of the app created it
    count = op_state["install"].deploy_count
    assert count == 1, (f"the install's deploy created the stack {app.stack} {count} times, expected once"
                        + (": the stack was there before the install (a run's stack is its own, never reused)"
                           if count == 0 else ""))


def test_every_service_converged(unconverged: list[str]) -> None:
    assert not unconverged, not_converged(unconverged, "the install")


def test_every_web_service_answers_http(serving: list[Answer], web_services: list[WebService]) -> None:
    if not web_services:
        pytest.skip("no service of the app is web-facing (traefik.enable=true): nothing serves HTTP")
    unanswered = [answer.text() for answer in serving if not answer.answered]
    assert not unanswered, "; ".join(unanswered)


def test_a_router_sends_the_apps_domain_to_a_port_that_answers(
    app: App, web_services: list[WebService], serving: list[Answer]
) -> None:
    if not web_services:
        pytest.skip("no service of the app is web-facing (traefik.enable=true): nothing to route")
    why = domain_unserved(web_services, app.domain, serving)
    assert why is None, why


def test_every_web_service_is_routed_under_a_host(web_services: list[WebService]) -> None:
    problems = [problem for service in web_services for problem in traefik.routing_problems(service)]
    assert not problems, "; ".join(problems)


def test_the_deployed_version_label_is_the_version_installed(
    app: App, deployed_labels: dict[str, str], op_state: OpState
) -> None:
    installed = op_state["install"].deployment
    assert installed is not None, "op state records no deployment of the install"
    labelled = deployed_labels
    why = installed_version_problem(labelled, app.stack, installed.version, installed.chaos)
    assert why is None, why
    chaos_version = labelled.get(f"coop-cloud.{app.stack}.chaos-version")
    if installed.chaos:
        assert chaos_version == installed.commit[:8], (
            f"the install deployed commit {installed.commit[:8]} in chaos mode (not a release), yet the "
            f"`coop-cloud.{app.stack}.chaos-version` label is {chaos_version or 'absent'}")
    else:
        assert chaos_version is None, (
            f"the install deployed release {installed.version}, yet the app carries "
            f"`coop-cloud.{app.stack}.chaos-version={chaos_version}`, a chaos deploy's label: remove it from "
            "the recipe's compose (abra sets it only when deploying a commit that is not a release)")

