"""Running a tier: the op's assertion files (generic floor + overlay) under pytest, once.

Every file a tier collects lies in the run's tier tests folder (`<run dir>/tests`, built by
`runner/harness/repolocal.py`), which is pytest's rootdir and confcutdir: no conftest.py or ini
file outside it is ever loaded. The process gets a minimal environment, never the caller's tokens.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from runner.harness import warm_pytest
from runner.harness.fileio import write_text_atomic
from runner.harness.scrub import scrubber

# pytest's exit codes: 0 all passed, 1 some failed, 5 nothing collected (not a pass)
_PYTEST_VERDICTS = {0: "pass", 1: "fail"}


@dataclass
class TierResult:
    op: str
    verdict: str  # pass | fail | error | skip
    duration_s: float = 0.0
    files: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None  # for error: what failed; for skip: why
    junit: str | None = None
    generic_skipped: bool = False  # the generic floor was opted out for this op
    note: str | None = None


def tier_tests_root(run_dir: Path) -> Path:
    return run_dir / "tests"


def run_tier(op: str, files: list[Path], run_dir: Path, env: dict[str, str]) -> TierResult:
    """Run the files (all under the tier tests folder) in one pytest process; its output is
    scrubbed before anyone sees it."""
    if not files:  # e.g. the generic floor opted out and the recipe has no overlay for the op
        return TierResult(op, "pass", note="op performed; no assertion files to run")
    root = tier_tests_root(run_dir)
    junit = run_dir / f"junit-{op}.xml"
    args = ["-p", "no:cacheprovider", "-q", "-rfE",
            "-c", str(root / "pytest.ini"), "--rootdir", str(root), "--confcutdir", str(root),
           # generic and overlay files share basenames (test_install.py)
           "--import-mode=importlib",
           f"--junitxml={junit}", "-o", "junit_family=xunit2",
           *map(str, files)]
    started = time.monotonic()
    # `python -m pytest <args>` in a minimal environment, started ahead if warm_up() was called
    done = warm_pytest.run(args, warm_pytest.minimal_env(os.environ, env), cwd=root)
    output = scrubber.scrub(done.output)
    write_text_atomic(run_dir / "logs" / f"tier-{op}.log", output)
    if junit.exists():  # pytest wrote it directly; assertion messages may quote a secret
        write_text_atomic(junit, junit.read_text())
    verdict = _PYTEST_VERDICTS.get(done.exit_code, "error")
    counts = junit_counts(junit.read_text()) if junit.exists() else {}
    error = None if verdict != "error" else _error_line(done.exit_code, output)
    return TierResult(op, verdict, time.monotonic() - started,
                      [str(f.relative_to(run_dir)) for f in files], counts, error,
                      str(junit) if junit.exists() else None)


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
    if returncode == 5:
        return "pytest collected no tests from the assertion files"
    tail = [line for line in output.strip().splitlines() if line.strip()][-1:]
    return f"pytest exited {returncode}: {tail[0] if tail else 'no output'}"
