"""The lint tier on the local swarm: it lints the PR head before anything is deployed, an
error-level finding fails it, and the lifecycle still runs (install deploys and passes)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from runner.recipe import git
from tests.e2e.support import RunOutcome


def test_a_lightweight_release_tag_fails_the_lint_tier_while_install_still_passes(
        run_ci: Callable[..., RunOutcome], recipe_variant: Callable[..., Path]) -> None:
    def retag_lightweight(repo: Path) -> None:  # the release as `git tag` alone makes it
        git.git(repo, "tag", "-d", "1.1.0+1.1")
        git.git(repo, "tag", "1.1.0+1.1", "HEAD~1")
        (repo / "README.md").write_text((repo / "README.md").read_text() + "\nA PR head.\n")
    repo = recipe_variant(retag_lightweight, "docs: a PR head")
    done = run_ci(RECIPE=str(repo))  # STAGES unset: lint,install
    results = done.results
    assert done.returncode == 1, done.stderr[-3000:]
    assert [(t["op"], t["verdict"]) for t in results["tiers"][:2]] == [("lint", "fail"), ("install", "pass")]
    assert results["deploy_count"] == 1 and results["teardown_clean"] is True
    log = (done.run_dirs[0] / "logs" / "tier-lint.log").read_text()
    assert "CCCI-L09" in log and "git tag 1.1.0+1.1: a lightweight tag" in log
    assert results["ladder"][4]["name"] == "lint" and results["ladder"][4]["state"] == "fail"
