"""A tier's verdict: a tier passes only when at least one test passed and none failed; a tier with
no assertion files, no tests, or only skipped tests is `empty`, never `pass`."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.run.rundir import RunDir
from runner.tiers import warm_pytest
from runner.tiers.tier import NO_FILES, run_tier, skip_reasons, tier_verdict

JUNIT_ALL_SKIPPED = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0"
failures="0" skipped="2" tests="2"><testcase classname="t" name="a"><skipped type="pytest.skip"
message="no service of the app is web-facing">t.py:3: no service of the app is web-facing</skipped></testcase>
<testcase classname="t" name="b"><skipped type="pytest.skip" message="not here">t.py:5: not here</skipped>
</testcase></testsuite></testsuites>"""


@pytest.mark.parametrize(("exit_code", "counts", "reasons", "verdict", "why"), [
    (0, {"passed": 3}, [], "pass", None),
    (0, {"passed": 1, "skipped": 2}, ["x"], "pass", None),  # some checked: a pass
    (1, {"passed": 2, "failed": 1}, [], "fail", None),
    (1, {"failed": 1, "skipped": 2}, [], "fail", None),
    (0, {"skipped": 2}, ["no web service", "no web service"], "empty", "all 2 test(s) skipped: no web service"),
    (0, {"skipped": 1}, [], "empty", "all 1 test(s) skipped"),
    (0, {}, [], "empty", "no test ran"),
    (5, {}, [], "empty", "the assertion files hold no tests"),
    (2, {}, [], "error", None),  # a collection error: the run's problem, not an empty tier
])
def test_the_tier_verdict(exit_code: int, counts: dict[str, int], reasons: list[str], verdict: str,
                          why: str | None) -> None:
    assert tier_verdict(exit_code, counts, reasons) == (verdict, why)


def test_skip_reasons_come_from_the_junit_report() -> None:
    assert skip_reasons(JUNIT_ALL_SKIPPED) == ["no service of the app is web-facing", "not here"]
    assert skip_reasons("") == []


def test_a_tier_without_assertion_files_is_empty(tmp_path: Path) -> None:
    tier = run_tier("backup", [], RunDir(tmp_path), {})
    assert (tier.verdict, tier.error) == ("empty", NO_FILES)


def _tier_dir(tmp_path: Path, body: str) -> Path:
    (tmp_path / "logs").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "pytest.ini").write_text("[pytest]\n")
    test = tmp_path / "tests" / "test_install.py"
    test.write_text(body)
    return test


@pytest.mark.usefixtures("forked_pytest")  # the verdict, not the start of its pytest
def test_a_tier_whose_every_test_skipped_is_empty_with_why(tmp_path: Path) -> None:
    test = _tier_dir(tmp_path, "import pytest\n\ndef test_a():\n    pytest.skip('nothing to serve')\n")
    tier = run_tier("install", [test], RunDir(tmp_path), {})
    assert (tier.verdict, tier.error, tier.counts) == ("empty", "all 1 test(s) skipped: nothing to serve", {"skipped": 1})


@pytest.mark.usefixtures("forked_pytest")  # the verdict, not the start of its pytest
def test_a_tier_whose_files_hold_no_test_is_empty(tmp_path: Path) -> None:
    test = _tier_dir(tmp_path, "X = 1\n")
    tier = run_tier("install", [test], RunDir(tmp_path), {})
    assert (tier.verdict, tier.error) == ("empty", "the assertion files hold no tests")


def test_a_warm_started_tier_prints_no_stray_warning(tmp_path: Path) -> None:
    test = _tier_dir(tmp_path, "import httpx\n\ndef test_a():\n    assert httpx.codes.OK == 200\n")
    warm_pytest.warm_up()  # as the orchestrator starts every tier's pytest: ahead, plugins imported
    tier = run_tier("install", [test], RunDir(tmp_path), {})
    output = RunDir(tmp_path).tier_log("install").read_text()
    assert tier.verdict == "pass" and "warning" not in output.lower(), output
