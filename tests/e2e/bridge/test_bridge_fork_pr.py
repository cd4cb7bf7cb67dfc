"""`!testme` on a PR from a fork, the whole way: the bridge binds the run to the head the forge
shows, the run fetches it from the base repo's refs/pull/<n>/head and deploys it; when that ref
is not at the bound head, the run refuses and the PR is told why in one line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.bridge.config import REPO_ROOT, BridgeConfig
from runner.bridge.service import Bridge, load_secrets
from runner.harness import git
from runner.harness.recipes import bundled_recipe_repo
from tests.unit.bridge.bridge_standins import StandinForge
from tests.unit.bridge.support import (
    FORGE_TOKEN,
    MEMBER,
    ORG,
    REPO,
    WEBHOOK_SECRET,
    RunningBridge,
    wait_until,
)

pytestmark = pytest.mark.e2e

NAME = "fork-bridge"  # not bundled: cloned over file:// from the stand-in forge's repos


@pytest.fixture
def forge() -> Iterator[StandinForge]:
    server = StandinForge(FORGE_TOKEN)
    server.server.start()
    server.add_member(ORG, MEMBER)
    yield server
    server.server.stop()


def test_a_fork_pr_runs_the_forks_head_and_a_stale_pull_ref_is_refused_on_the_pr(
        tmp_path: Path, forge: StandinForge, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_TEST_SECRET_FORGE", FORGE_TOKEN)
    monkeypatch.setenv("BRIDGE_TEST_SECRET_WEBHOOK", WEBHOOK_SECRET)
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
    cfg = BridgeConfig.model_validate({
        "forge": {"url": forge.url, "token": {"env": "BRIDGE_TEST_SECRET_FORGE"}},
        "webhook": {"secret": {"env": "BRIDGE_TEST_SECRET_WEBHOOK"}, "port": 0},
        "repos": {REPO: NAME},
        "executor": {
            "kind": "local",
            "command": [sys.executable, "-m", "runner.run_recipe_ci"],
            "workdir": str(REPO_ROOT),
            "runs_dir": str(runs_dir),
            "timeout_seconds": 600,
            "env": {"CCCI_DOMAIN_BASE": "ccci.test", "CCCI_RESOLVE_IMAGE": "never",
                    "CCCI_RECIPE_URL_TEMPLATE": f"file://{base.parent}/{{name}}.git",
                    "CCCI_OVERLAY_DIR": str(REPO_ROOT / "tests" / "custom-html-tiny")},
        },
        "state_dir": str(tmp_path / "state"),
        "retry": {"attempts": 3, "base_seconds": 0.1, "max_seconds": 1},
    })
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
