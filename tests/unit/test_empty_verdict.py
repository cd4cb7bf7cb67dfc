"""A run in which nothing failed but a tier asserted nothing is `empty`: its own verdict and exit
code (4), shown with why in the console, results.json and summary.md, never a green on the PR."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from runner.bridge.executors.local import outcome_from_results
from runner.bridge.reports import finished_body, job_status
from runner.errors import EXIT_EMPTY
from runner.ops import LIFECYCLE
from runner.record.results import RunResult, print_summary, summary_markdown, verdict_of
from runner.tiers.tier import NO_FILES, TierResult
from tests.unit.bridge.support import a_job


def _result(*tiers: TierResult) -> RunResult:
    result = RunResult("r1", "recipe", None, None, [t.op for t in tiers], "/tmp/r1", teardown_leftovers=[],
                       rungs=LIFECYCLE.rungs)
    result.tiers = list(tiers)
    return result


EMPTY_BACKUP = TierResult("backup", "empty", error=NO_FILES, generic_skipped=True)


@pytest.mark.parametrize(("verdicts", "run_verdict"), [
    (["pass", "empty"], "empty"),
    (["empty", "empty"], "empty"),
    (["empty", "fail"], "fail"),
    (["empty", "error"], "error"),
    (["pass", "skip"], "pass"),
])
def test_empty_is_beaten_by_fail_and_error_and_beats_pass(verdicts: list[str], run_verdict: str) -> None:
    assert verdict_of([TierResult(f"op{i}", v) for i, v in enumerate(verdicts)], None, []) == run_verdict


def test_a_run_with_an_empty_tier_exits_4_and_stops_the_ladder_there() -> None:
    result = _result(TierResult("install", "pass", counts={"passed": 6}), TierResult("upgrade", "pass"),
                     EMPTY_BACKUP, TierResult("restore", "pass"))
    data = result.to_json()
    assert (data["verdict"], data["exit_code"], EXIT_EMPTY) == ("empty", 4, 4)
    assert data["level"] == 2
    assert data["ladder_stop"] == f"L2 (stopped at L3 backup+restore: backup empty — {NO_FILES})"
    assert data["tiers"][2]["verdict"] == "empty" and data["tiers"][2]["error"] == NO_FILES


def test_the_summary_shows_the_empty_tier_and_why() -> None:
    text = summary_markdown(_result(TierResult("install", "pass", counts={"passed": 6}), EMPTY_BACKUP))
    assert text.startswith("### cc-ci ∅ empty: `recipe`")
    assert f"| backup | ∅ empty | {NO_FILES} (generic floor opted out) |" in text
    assert f"**nothing checked** in: backup ({NO_FILES}). An empty tier is never a pass." in text


def test_the_console_shows_the_empty_tier_and_the_exit_code() -> None:
    out = io.StringIO()
    print_summary(_result(TierResult("install", "empty", counts={"skipped": 2}, error="all 2 test(s) skipped: x")),
                  Console(file=out, width=200))
    text = out.getvalue()
    assert "│ install │ empty   │ 2 skipped: all 2 test(s) skipped: x │" in text
    assert "verdict: empty (exit 4)" in text


def test_the_bridge_reports_an_empty_run_as_neither_green_nor_the_recipes_red() -> None:
    outcome = outcome_from_results({"verdict": "empty", "exit_code": 4}, "# summary", 4)
    assert outcome.verdict == "empty"
    job = a_job(state="finished", verdict="empty", summary="# summary")
    assert job_status(job) == "warning"
    assert "**checked nothing in a tier ∅**" in finished_body(job, "http://ci/runs/1")
