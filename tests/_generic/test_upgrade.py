"""The generic floor after upgrade: the same app now runs the PR head, in place. True for every
recipe (docs/generic-floor.md says why)."""

from __future__ import annotations

import pytest

from runner.evidence.converged import not_converged
from runner.evidence.labels import version_label_missing
from runner.evidence.mounts import moved_mounts
from runner.evidence.proof import few
from runner.evidence.serving import Answer, domain_unserved
from runner.maintainer.meta import RecipeMeta
from runner.recipe import traefik
from runner.recipe.traefik import WebService
from runner.run.app import App
from runner.run.opstate import AppIdentity, OpState
from runner.targets.base import Target


def test_every_service_converged(unconverged: list[str]) -> None:
    assert not unconverged, not_converged(unconverged, "the upgrade")


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


def test_the_deployed_chaos_version_is_the_pr_head(app: App, deployed_labels: dict[str, str], op_state: OpState) -> None:
    labels = deployed_labels
    hop_to = getattr(op_state["upgrade"], "hop_to", None)
    if hop_to:  # a hop of an upgrade chain (UPGRADE_FROM) deploys a release, as `abra app upgrade <version>`
        deployed = op_state["upgrade"].deployment
        assert labels.get(f"coop-cloud.{app.stack}.chaos") != "true", f"the hop to {hop_to} was deployed in chaos mode"
        assert deployed is not None and deployed.version == hop_to, (
            f"the hop to {hop_to} deployed {deployed.version if deployed else 'nothing'}")
        return
    chaos, runs = labels.get(f"coop-cloud.{app.stack}.chaos"), labels.get(f"coop-cloud.{app.stack}.chaos-version")
    assert chaos == "true", (f"the upgrade to the PR head {op_state.head_commit[:8]} was not deployed in chaos mode "
                             f"(as `abra app upgrade --chaos` does): `coop-cloud.{app.stack}.chaos` is "
                             f"{chaos or 'absent'}, expected true")
    assert runs == op_state.head_commit[:8], (
        f"the app runs {runs or 'no chaos-version label'}, not the PR head {op_state.head_commit[:8]}")


def test_the_version_label_is_the_one_the_pr_head_declares(
    app: App, deployed_labels: dict[str, str], op_state: OpState
) -> None:
    # It moves from the base's only when the head declares another: a pinned base may be the
    # very release whose label the head still carries.
    installed, declared = op_state["install"].deployment, op_state["upgrade"].declared_version
    assert installed is not None, "op state records no deployment of the install"
    key = f"coop-cloud.{app.stack}.version"
    label, base_label = deployed_labels.get(key), installed.labels.get(key)
    missing = version_label_missing(deployed_labels, app.stack, declared) if label is None else None
    assert label == declared, (f"the app's version label is {label or 'absent'} (the base's was "
                               f"{base_label or 'absent'}); the PR head's compose declares {declared or 'none'} "
                               f"(label `{key}`)" + (f": {missing}" if missing else ""))


def test_the_upgrade_kept_the_stack_and_its_services(app: App, op_state: OpState) -> None:
    before, after = _identities(op_state)
    assert before.stack == after.stack == app.stack, f"the app moved from stack {before.stack} to {after.stack}"
    gone = sorted(set(before.services) - set(after.services))
    assert not gone, f"service(s) of the install gone after the upgrade: {', '.join(gone)}"


def test_the_upgrade_kept_every_volume(op_state: OpState) -> None:
    # by name: docker's CreatedAt of a local volume is its `_data` dir's ctime, which any file the
    # app adds at the volume's root moves; the install witness proves the data stayed. And by
    # mount: a release that renames a volume leaves the old one (and its witness) in place, unused
    before, after = _identities(op_state)
    gone = sorted(set(before.volumes) - set(after.volumes))
    problems = [f"volume(s) of the install gone after the upgrade: {', '.join(gone)}"] if gone else []
    problems += moved_mounts(before, after)
    assert not problems, "; ".join(problems)


def test_the_upgrade_updated_each_service_in_place(op_state: OpState) -> None:
    before, after = _identities(op_state)
    declared = op_state["upgrade"].declared_services
    problems = []
    for name, service in sorted(before.services.items()):
        now = after.services.get(name)
        if now is None:
            continue  # gone: the test above names it
        if now.id != service.id:
            problems.append(f"{name} was removed and created again (id {service.id[:12]}, now {now.id[:12]})")
        # a service the head no longer declares is left as it was by `docker stack deploy`
        elif (declared is None or name in declared) and now.version <= service.version:
            problems.append(f"{name} was not updated (spec version {service.version} before and after)")
    assert not problems, "; ".join(problems)


def _identities(op_state: OpState) -> tuple[AppIdentity, AppIdentity]:
    """The app as docker saw it after the install and after the upgrade."""
    before, after = op_state["install"].identity, op_state["upgrade"].identity
    assert before is not None and after is not None, "op state records no identity of the app for install and upgrade"
    return before, after


def test_the_witnesses_planted_at_install_are_still_in_place(
    app: App, target: Target, op_state: OpState, meta: RecipeMeta
) -> None:
    # one per volume root, planted by the harness after the install converged: the app never
    # touches them, so they are gone or changed only if the upgrade did not keep the volumes' data
    planted = op_state["install"].witnesses
    if not planted:
        pytest.skip(f"no witness files: SKIP_WITNESSES = {meta.SKIP_WITNESSES!r}" if meta.SKIP_WITNESSES
                    else "the app had no volume to plant a witness file in")
    live = target.file_digests(app, [w.key for w in planted])
    lost = [f"{w.volume}:{w.path} ({'missing' if live.get(w.key) is None else 'changed'})"
            for w in planted if live.get(w.key) != w.sha256]
    assert lost == [], f"{len(lost)} of {len(planted)} witness file(s) planted at install are not in place after " \
                       f"the upgrade: {few(lost)}. Missing: the volume is gone, or no service mounts it any " \
                       "more; changed: its data was rewritten. Either way the upgrade did not keep that volume's data"
