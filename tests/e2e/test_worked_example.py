"""docs/enroll-recipe.md's worked example, word for word: every `sh` block of that section runs,
in order, from the checkout, in a fresh home (where the maintainer's `~/guestbook` goes), and the
run it ends with is green through all five stages."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from runner.plumbing.paths import REPO_ROOT

pytestmark = pytest.mark.e2e

DOC = REPO_ROOT / "docs" / "enroll-recipe.md"


def worked_example_blocks(text: str) -> list[str]:
    start = text.index("<!-- worked example:")
    end = text.index("<!-- end of worked example -->", start)
    return re.findall(r"^```sh\n(.*?)^```", text[start:end], re.S | re.M)


def test_the_doc_has_the_blocks_a_maintainer_follows() -> None:
    blocks = worked_example_blocks(DOC.read_text())
    assert len(blocks) == 5
    assert all(f".venv/bin/cc-ci {command} ~/guestbook" in blocks[-1] for command in ("lint", "check", "run"))


def test_following_the_worked_example_word_for_word_gives_a_green_five_stage_run(tmp_path: Path) -> None:
    script = "set -euo pipefail\n" + "\n".join(worked_example_blocks(DOC.read_text()))
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CCCI_", "RECIPE", "REF", "PR", "STAGES"))}
    env |= {"HOME": str(home), "CCCI_DOMAIN_BASE": "ccci.test",  # the maintainer has git set up; this home has not
            "GIT_AUTHOR_NAME": "A Maintainer", "GIT_AUTHOR_EMAIL": "maintainer@example.com",
            "GIT_COMMITTER_NAME": "A Maintainer", "GIT_COMMITTER_EMAIL": "maintainer@example.com"}
    done = subprocess.run(["bash", "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "ok: nothing to fix" in out  # cc-ci check
    assert "approved by tree id" in out and "guestbook/test_install.py (repo-local)" in out
    assert "install: post_install hook" in out
    for tier in ("install", "upgrade", "backup", "restore", "custom"):
        assert f"{tier} tier: pass" in out, out
    assert "lint guestbook at " in out and "0 error(s), 0 warning(s)" in out  # cc-ci lint: it lints clean
    assert "lint tier: pass" in out and "level: L5 (every rung)" in out
    assert "verdict: pass (exit 0)" in out and "teardown: clean, nothing left behind" in out
