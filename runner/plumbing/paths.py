"""Where the project's own files live, and where runs write theirs."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TESTS_DIR = REPO_ROOT / "tests"
FIXTURES_DIR = TESTS_DIR / "fixtures"
ALLOWLIST_FILE = TESTS_DIR / "repo-local-approved.txt"


def state_dir() -> Path:
    """Root for cc-ci's own state (materialised fixture repos, run dirs)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "cc-ci"


def default_runs_dir() -> Path:
    """Where run dirs go unless CCCI_RUNS_DIR (read by RunConfig) says otherwise."""
    return state_dir() / "runs"


def default_deps_dir() -> Path:
    """Where shared dependencies keep their run dirs and locks unless CCCI_DEPS_DIR says otherwise."""
    return state_dir() / "deps"
