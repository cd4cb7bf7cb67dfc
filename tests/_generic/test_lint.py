"""The lint tier's floor: no error-level lint finding the recipe did not opt out of (`LINT_OPT_OUT`
in recipe_meta.py, with a reason). Warnings and opted-out findings are reported, never a failure."""

from __future__ import annotations

from runner.run.opstate import OpState


def test_no_error_level_lint_finding(op_state: OpState) -> None:
    linted = op_state["lint"]
    blocking = [finding.line() for finding in linted.findings if finding.blocking]  # type: ignore[attr-defined]
    assert not blocking, (f"{len(blocking)} error-level lint finding(s) at {linted.ref[:12]} "  # type: ignore[attr-defined]
                          "(fix them, or opt out in recipe_meta.py: LINT_OPT_OUT = {\"RULE\": \"why\"}):\n"
                          + "\n".join(blocking))
