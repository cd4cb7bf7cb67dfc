"""Running a tier: the op's assertion files (generic floor + overlay) under pytest, once.

Every file a tier collects lies in the run's tier tests folder (`<run dir>/tests`, built by
`runner/maintainer/repolocal.py`), which is pytest's rootdir and confcutdir: no conftest.py or ini
file outside it is ever loaded. The process gets a minimal environment, never the caller's tokens.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from runner.plumbing.fileio import write_text_atomic
from runner.plumbing.scrub import scrubber
from runner.run.rundir import RunDir
from runner.tiers import warm_pytest

# pytest's exit codes: 0 all passed (or all skipped), 1 some failed, 5 nothing collected
PYTEST_PASSED, PYTEST_FAILED, PYTEST_NO_TESTS = 0, 1, 5
NO_FILES = "no assertion files to run"


@dataclass
class TierResult:
    op: str
    verdict: str  # pass | fail | error | skip | empty (ran, but no assertion executed)
    duration_s: float = 0.0
    files: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None  # for error: what failed; for skip and empty: why
    junit: str | None = None
    generic_skipped: bool = False  # the generic floor was opted out for this op
    note: str | None = None
    first_failure: str | None = None  # fail: the first failed test and its message, in a line or two


def run_tier(op: str, files: list[Path], run_dir: RunDir, env: dict[str, str]) -> TierResult:
    """Run the files (all under the tier tests folder) in one pytest process; its output is
    scrubbed before anyone sees it."""
    if not files:  # e.g. the generic floor opted out and the recipe has no overlay for the op
        return TierResult(op, "empty", error=NO_FILES)
    root = run_dir.tests
    junit = run_dir.junit(op)
    args = ["-p", "no:cacheprovider", "-q", "-rfE",
            # the warm start imports the conftest's plugin (the browser tests') ahead, so pytest warned on
            # every tier that it could not rewrite its asserts: they are not the recipe's, nothing is lost
            "-W", "ignore:Module already imported so cannot be rewritten:pytest.PytestAssertRewriteWarning",
            "-c", str(root / "pytest.ini"), "--rootdir", str(root), "--confcutdir", str(root),
           # generic and overlay files share basenames (test_install.py)
           "--import-mode=importlib",
           f"--junitxml={junit}", "-o", "junit_family=xunit2",
           *map(str, files)]
    started = time.monotonic()
    # `python -m pytest <args>` in a minimal environment, started ahead if warm_up() was called
    done = warm_pytest.run(args, warm_pytest.minimal_env(os.environ, env), cwd=root)
    output = scrubber.scrub(done.output)
    write_text_atomic(run_dir.tier_log(op), output)
    if junit.exists():  # pytest wrote it directly; assertion messages may quote a secret
        write_text_atomic(junit, junit.read_text())
    xml = junit.read_text() if junit.exists() else None
    counts = junit_counts(xml) if xml else {}
    verdict, error = tier_verdict(done.exit_code, counts, [scrubber.scrub(r) for r in skip_reasons(xml or "")])
    if verdict == "error":
        error = _error_line(done.exit_code, output)
    return TierResult(op, verdict, time.monotonic() - started,
                      [str(f.relative_to(run_dir.root)) for f in files], counts, error,
                      str(junit) if junit.exists() else None,
                      first_failure=first_failure(xml) if xml and verdict == "fail" else None)


def tier_verdict(exit_code: int, counts: dict[str, int], skipped_because: list[str]) -> tuple[str, str | None]:
    """The tier's verdict from pytest's exit code and counts, and why when it is not plain:
    a tier that passed without one test passing asserted nothing, so it is `empty`."""
    if exit_code == PYTEST_FAILED:
        return "fail", None
    if exit_code == PYTEST_NO_TESTS:
        return "empty", "the assertion files hold no tests"
    if exit_code != PYTEST_PASSED:
        return "error", None
    if counts.get("passed", 0) == 0:
        return "empty", _why_nothing_passed(counts.get("skipped", 0), skipped_because)
    return "pass", None


def _why_nothing_passed(skipped: int, reasons: list[str]) -> str:
    if not skipped:
        return "no test ran"
    distinct = "; ".join(dict.fromkeys(reasons))
    return f"all {skipped} test(s) skipped" + (f": {distinct}" if distinct else "")


FIRST_FAILURE_CHARS = 400  # a summary line, not the report: the run page has the rest


def first_failure(xml: str) -> str | None:
    """`test_name: <pytest's message>` of the first failed (or erroring) test of a JUnit report,
    its first two lines, scrubbed and clipped; None when none failed."""
    for case in ElementTree.fromstring(xml).iter("testcase"):
        node = case.find("failure")
        node = node if node is not None else case.find("error")
        if node is None:
            continue
        text = (node.get("message") or node.text or "").strip()
        lines = [line.strip() for line in text.splitlines() if line.strip()][:2]
        message = " ".join(lines).removeprefix("AssertionError: ")
        message = message if len(message) <= FIRST_FAILURE_CHARS else message[: FIRST_FAILURE_CHARS - 1] + "…"
        return scrubber.scrub(f"{case.get('name') or '?'}: {message}" if message else case.get("name") or "?")
    return None


def skip_reasons(xml: str) -> list[str]:
    """Why each skipped test of a pytest JUnit report was skipped."""
    if not xml:
        return []
    return [str(skipped.get("message", "")).strip() for skipped in ElementTree.fromstring(xml).iter("skipped")
            if skipped.get("message")]


def junit_counts(xml: str) -> dict[str, int]:
    """passed/failed/error/skipped from a pytest JUnit report; zero counts are left out."""
    suite = ElementTree.fromstring(xml)
    inner = suite.find("testsuite") if suite.tag == "testsuites" else None
    if inner is not None:
        suite = inner
    total, failed, error, skipped = (int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
    counts = {"passed": total - failed - error - skipped, "failed": failed, "error": error, "skipped": skipped}
    return {kind: n for kind, n in counts.items() if n}


def _error_line(returncode: int, output: str) -> str:
    """What went wrong, naming the file pytest could not collect (`<recipe>/test_x.py`) and the
    exception's own line, when there is one; else pytest's last line."""
    lines = [line for line in output.strip().splitlines() if line.strip()]
    collecting = [m.group(1) for line in lines if (m := re.match(r"^_+ ERROR collecting (\S+) _+$", line))]
    raised = [line.removeprefix("E").strip() for line in lines if line.startswith("E   ")][:1]
    if collecting:
        return (f"pytest exited {returncode}: could not collect {', '.join(dict.fromkeys(collecting))}"
                + (f": {raised[0]}" if raised else ""))
    if raised and returncode != PYTEST_PASSED:
        return f"pytest exited {returncode}: {raised[0]}"
    return f"pytest exited {returncode}: {lines[-1] if lines else 'no output'}"
