"""The lint floor (`tests/_generic/test_lint.py`) with stubbed op state: an error-level finding
nobody opted out of fails the tier and is named; warnings and opted-out errors never do."""

from __future__ import annotations

import pytest

from runner.lint import Finding
from runner.ops.lint import LintRecord
from runner.run.opstate import OpState
from tests.unit.floor.support import load_floor

floor = load_floor("lint")
L09 = Finding("CCCI-L09", "error", "git tags", "git tag 1.0.0+1.0: a lightweight tag; re-create it annotated")
R002 = Finding("R002", "warn", "compose.yml", "compose.yml: service worker has no healthcheck")


def _state(*findings: Finding) -> OpState:
    return OpState(run_id="r1", recipe="recipe", head_commit="f" * 40,
                   ops={"lint": LintRecord(op="lint", ref="f" * 40, findings=list(findings))})


def test_an_error_nobody_opted_out_of_fails_naming_it() -> None:
    with pytest.raises(AssertionError, match=r"1 error-level lint finding\(s\) at ffffffffffff[\s\S]*CCCI-L09 .*1\.0\.0\+1\.0"):
        floor.test_no_error_level_lint_finding(_state(L09, R002))


def test_warnings_and_opted_out_errors_pass() -> None:
    floor.test_no_error_level_lint_finding(_state(R002))
    opted = Finding(L09.rule, L09.level, L09.file, L09.message, opted_out="tagged by hand")
    floor.test_no_error_level_lint_finding(_state(opted, R002))
