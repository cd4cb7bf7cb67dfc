"""Errors reach the PR with their cause: a clone the recipe repo refuses shows git's own reason
(not its last line of advice), a forge answer the bridge cannot use shows the call and what was
wrong; both scrubbed (one printable line, credentials in URLs masked) and clipped with a mark,
never to nothing."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from runner.bridge import reports
from runner.bridge.config import REPO_ROOT
from runner.bridge.forge.client import ForgeError
from runner.recipe import git
from runner.recipe.repos import bundled_recipe_repo
from tests.unit.bridge.bridge_standins import StandinForge
from tests.unit.bridge.support import REPO, StartBridge, wait_until

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving a repo to another user needs root")


@needs_root
def test_a_clone_refused_for_dubious_ownership_reaches_the_pr_with_gits_reason(
    start_bridge: StartBridge, forge: StandinForge, tmp_path: Path
) -> None:
    repos = tmp_path / "forge-repos"
    git.git(None, "clone", "-q", "--bare", str(bundled_recipe_repo("custom-html-tiny")),
            str(repos / "theirs-demo.git"))
    os.chown(repos / "theirs-demo.git", 65534, 65534)  # served by another user: git refuses it
    bridge = start_bridge(
        repos={REPO: "theirs-demo"},
        executor={
            "command": [sys.executable, "-m", "runner.run_recipe_ci"],  # the real run
            "workdir": str(REPO_ROOT),
            "env": {"CCCI_RECIPE_URL_TEMPLATE": f"file://{repos}/{{name}}.git"},
        },
    )

    bridge.comment("!testme")

    job = wait_until(lambda: [j for j in bridge.jobs() if j.reported], timeout=60, what="run reported")[0]
    (comment,) = forge.bot_comments(REPO, 1)
    assert job.verdict == "error"
    assert "could not be cloned from" in comment["body"]
    assert "detected dubious ownership in repository" in comment["body"], comment["body"]


def test_a_forge_answer_the_bridge_cannot_use_reaches_the_pr_with_its_cause(
    start_bridge: StartBridge, forge: StandinForge, monkeypatch: pytest.MonkeyPatch
) -> None:
    bridge = start_bridge()
    answer = ("forge GET /repos/coop-cloud/custom-html-tiny/pulls/1: unexpected answer (HTTP 200): "
              "expected a pull request with number, state and head.sha; head.sha: Field required")

    def broken(job_id: int) -> bool:
        raise ForgeError(answer)

    monkeypatch.setattr(bridge.bridge.reporter, "sync", broken)
    bridge.comment("!testme")

    job = wait_until(lambda: bridge.jobs("finished"), what="job ended")[0]
    assert job.verdict == "error"
    assert answer in (job.summary or ""), job.summary


def test_a_reason_shown_on_a_pr_is_one_printable_line_without_credentials_and_clipped_with_a_mark() -> None:
    line = "cc-ci: error: RECIPE: cloning https://bot:s3cr3t-tok@git.example/o/r.git failed:\n`x`\x1b[31m"
    shown = reports.public_reason(line)
    assert "s3cr3t-tok" not in shown and "https://***@git.example/o/r.git" in shown
    assert "\n" not in shown and "\x1b" not in shown and "`" not in shown
    long = reports.public_reason("fatal: " + "y" * 5000)
    assert long.startswith("fatal: yyy") and long.endswith("…") and len(long) == reports.MAX_REASON_CHARS + 1
