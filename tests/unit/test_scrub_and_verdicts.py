"""The scrubber masks every registered secret; verdicts map to the documented exit codes."""

from __future__ import annotations

from runner.plumbing.scrub import MASK, Scrubber
from runner.record.results import RunResult, verdict_of
from runner.tiers.tier import TierResult, junit_counts


def test_scrubber_masks_every_occurrence_longest_first() -> None:
    scrubber = Scrubber()
    scrubber.add("s3cretValue")
    scrubber.add("s3cretValueLonger")
    text = "a=s3cretValue b=s3cretValueLonger again s3cretValue"
    assert scrubber.scrub(text) == f"a={MASK} b={MASK} again {MASK}"


def test_scrubber_ignores_values_too_short_to_be_secrets() -> None:
    scrubber = Scrubber()
    scrubber.add("ab")
    assert scrubber.scrub("abc") == "abc"


def _result(*verdicts: str, error: str | None = None, leftovers: list[str] | None = None) -> RunResult:
    result = RunResult("r", "x", None, None, ["install"], "/tmp/r", error=error, teardown_leftovers=leftovers)
    result.tiers = [TierResult(f"op{i}", v) for i, v in enumerate(verdicts)]
    return result


def test_verdicts_and_exit_codes() -> None:
    assert (_result("pass", leftovers=[]).verdict, _result("pass", leftovers=[]).exit_code) == ("pass", 0)
    assert _result("pass", "fail", leftovers=[]).exit_code == 1
    assert _result("fail", "error", leftovers=[]).exit_code == 3
    assert _result(error="deploy failed").exit_code == 3


def test_a_dirty_teardown_fails_an_otherwise_green_run() -> None:
    assert verdict_of([TierResult("install", "pass")], None, ["volume x_content"]) == "error"


def test_bad_input_found_after_start_keeps_exit_code_2() -> None:
    result = _result(error="REF: 'nope' is not a commit", leftovers=None)
    result.error_exit_code = 2
    assert result.exit_code == 2


def test_tier_counts_come_from_the_junit_report() -> None:
    xml = ('<?xml version="1.0"?><testsuites><testsuite name="pytest" errors="1" failures="2" '
           'skipped="1" tests="9"></testsuite></testsuites>')
    assert junit_counts(xml) == {"passed": 5, "failed": 2, "error": 1, "skipped": 1}
    assert junit_counts('<testsuite tests="6" failures="0" errors="0" skipped="0"/>') == {"passed": 6}
