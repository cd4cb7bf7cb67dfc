"""The generic floor after restore-fresh, besides the restore floor run on the fresh app: the
fresh app is a second app (its own domain and stack), deployed once, at the PR head, and given
the original app's secret values. docs/generic-floor.md says more."""

from __future__ import annotations

import json

from runner.run.app import App
from runner.run.opstate import OpState
from runner.run.rundir import RunDir


def test_the_fresh_app_is_a_second_app(app: App, run_dir: RunDir, op_state: OpState, op: str) -> None:
    original = App.from_description(json.loads(run_dir.app_json.read_text()))
    record = op_state[op]
    assert (app.domain, app.stack) == (record.domain, record.stack), "the tier is not looking at the fresh app"
    assert app.stack != original.stack and app.domain != original.domain, (
        f"the fresh app (stack {app.stack}, domain {app.domain}) is not a second app: the original is "
        f"stack {original.stack}, domain {original.domain}")


def test_the_fresh_app_was_deployed_once(app: App, op_state: OpState, op: str) -> None:
    recorded = op_state[op].deploy_count
    assert (app.deploy_count, recorded) == (1, 1), (
        f"the fresh app's stack {app.stack} was created {app.deploy_count} times (the op recorded {recorded}), "
        "expected once")


def test_the_fresh_app_runs_the_pr_head(op_state: OpState, op: str) -> None:
    deployment = op_state[op].deployment
    assert deployment is not None and deployment.commit == op_state.head_commit, (
        f"the fresh app runs {deployment.commit[:12] if deployment else 'nothing (no deployment recorded)'}, "
        f"not the PR head {op_state.head_commit[:12]}")


def test_the_fresh_app_got_the_original_apps_secrets(app: App, op_state: OpState, op: str) -> None:
    wanted = sorted(f"{spec.name} {spec.version}" for spec in app.secrets)
    assert sorted(op_state[op].shared_secrets) == wanted, (
        "an operator restoring onto a new app inserts the old app's secret values; these were generated anew: "
        f"{', '.join(sorted(set(wanted) - set(op_state[op].shared_secrets)))}")
