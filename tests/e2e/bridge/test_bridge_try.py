"""docs/bridge.md's way to try the bridge on the bundled example works word for word:
`scripts/try-bridge` (a stand-in forge, the real `cc-ci bridge` after `--check`, a signed
`!testme` on PR #1 of the example) ends with the run reported as passed on the PR."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_trying_the_bridge_on_the_bundled_example_passes_as_the_docs_say(tmp_path: Path) -> None:
    for _ in range(2):  # and again in the same dir, as an operator trying twice does
        done = subprocess.run([str(REPO_ROOT / "scripts" / "try-bridge"), "--dir", str(tmp_path)],
                              capture_output=True, text=True, timeout=900)
        out = done.stdout + done.stderr
        assert done.returncode == 0, out[-4000:]
    assert done.returncode == 0, out[-4000:]
    assert "bridge config OK: 1 enrolled repo(s), executor local" in out
    assert "ok: repos.example/custom-html-tiny: the forge publishes refs/pull/1/head (PR #1)" in out
    assert "the webhook was answered 202" in out
    assert "**passed ✅** for `custom-html-tiny`" in out
    assert "teardown: clean, nothing left behind" in out
    assert done.stdout.rstrip().endswith("try-bridge: done: the commit status is 'success'")
    docs = (REPO_ROOT / "docs" / "bridge.md").read_text()
    assert "scripts/try-bridge" in docs  # the page an operator follows names this very command
