"""`!testme` on a PR from a fork, the whole way: the bridge binds the run to the head the forge
shows, the run fetches it from the base repo's refs/pull/<n>/head and deploys it; when that ref
is not at the bound head, the run refuses and the PR is told why in one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runner.bridge.config import REPO_ROOT
from runner.bridge.service import Bridge, load_secrets
from runner.recipe import git
from runner.recipe.repos import bundled_recipe_repo
from tests.unit.bridge.bridge_standins import StandinForge
from tests.unit.bridge.support import (
    REPO,
    RunningBridge,
    wait_until,
)

pytestmark = pytest.mark.e2e

NAME = "fork-bridge"  # not bundled: cloned over file:// from the stand-in forge's repos


def test_a_fork_pr_runs_the_forks_head_and_a_stale_pull_ref_is_refused_on_the_pr(
        tmp_path: Path, forge: StandinForge, bridge_config: Any) -> None:
    example = bundled_recipe_repo("custom-html-tiny")
    base = tmp_path / "git" / f"{NAME}.git"
    git.git(None, "clone", "-q", "--bare", str(example), str(base))
    fork = tmp_path / "fork"
    git.git(None, "clone", "-q", str(example), str(fork))
    (fork / "index-note").write_text("from the fork\n")
    git.git(fork, "add", "index-note")
    git.git(fork, "commit", "-qm", "a commit only the fork has")
    head = git.rev_parse(fork, "HEAD")
    git.git(fork, "push", "-q", str(base), "HEAD:refs/pull/1/head")  # what the forge does
    git.git(fork, "push", "-q", str(base), "HEAD~1:refs/pull/2/head")  # the forge not caught up yet
    forge.add_pull(REPO, 1, head)
    forge.add_pull(REPO, 2, head)
    runs_dir = tmp_path / "runs"
    cfg = bridge_config(NAME, {"CCCI_RESOLVE_IMAGE": "never",
                               "CCCI_RECIPE_URL_TEMPLATE": f"file://{base.parent}/{{name}}.git",
                               "CCCI_OVERLAY_DIR": str(REPO_ROOT / "tests" / "custom-html-tiny")}, 600)
    bridge = Bridge(cfg, load_secrets(cfg))
    running = RunningBridge(bridge, bridge.start_in_thread(), forge)
    try:
        for number in (1, 2):
            assert running.comment("!testme", number=number).status_code == 202
        jobs = wait_until(lambda: (lambda done: done if len(done) == 2 else None)(
            sorted((j for j in running.jobs() if j.reported), key=lambda j: j.pr)),
            timeout=600, what="both runs to be reported")
    finally:
        bridge.stop(cancel_runs=True)

    fork_run, stale_run = jobs
    log = (tmp_path / "state" / "logs" / f"{fork_run.run_id}.log").read_text()
    assert fork_run.verdict == "pass", f"{fork_run.summary}\n--- run log ---\n{log[-4000:]}"
    results = json.loads((runs_dir / fork_run.run_id / "results.json").read_text())
    assert results["head_commit"] == head and results["deployments"][0]["commit"] == head

    assert stale_run.verdict == "error"
    assert not (runs_dir / stale_run.run_id).exists()  # refused before anything was made
    (comment,) = forge.bot_comments(REPO, 2)
    assert "the PR's head is not the commit `!testme` was accepted for (exit code 5)" in comment["body"]
    assert f"bound to head {head}, but refs/pull/2/head is {git.rev_parse(example, 'HEAD')[:12]}" in comment["body"]
