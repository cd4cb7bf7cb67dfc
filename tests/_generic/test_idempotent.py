"""The generic floor after the idempotence check: redeploying the installed version unchanged
changed nothing docker runs. True for every recipe whose deploy is stable (docs/generic-floor.md
says why); the op recorded what changed (`runner/evidence/specdiff.py`), these assertions judge it."""

from __future__ import annotations

from typing import Any

from runner.run.opstate import OpState


def test_the_redeploy_changed_no_service_spec(op_state: OpState) -> None:
    changed: dict[str, list[str]] = _record(op_state, "changed")
    lines = [f"{service}: {line}" for service, found in sorted(changed.items()) for line in found]
    assert not lines, (f"redeploying {_redeployed(op_state)} unchanged changed the spec of "
                       f"{len(changed)} service(s): " + "; ".join(lines))


def test_the_redeploy_restarted_no_task(op_state: OpState) -> None:
    restarted: dict[str, str] = _record(op_state, "restarted")
    assert not restarted, (f"redeploying {_redeployed(op_state)} unchanged restarted tasks: "
                           + "; ".join(f"{service}: {why}" for service, why in sorted(restarted.items())))


def test_the_redeploy_kept_the_app_deployed_once(op_state: OpState) -> None:
    record = op_state["idempotent"]
    assert record.deploy_count == 1, f"the app's stack was created {record.deploy_count} times (deploy-count)"
    assert _record(op_state, "services"), "the idempotence check compared no service of the app"


def _record(op_state: OpState, field: str) -> Any:
    return getattr(op_state["idempotent"], field)


def _redeployed(op_state: OpState) -> str:
    ref: str = _record(op_state, "redeployed")
    return ref[:12] if len(ref) == 40 else ref
