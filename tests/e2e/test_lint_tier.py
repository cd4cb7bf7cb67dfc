"""The lint tier on the local swarm: it lints the PR head before anything is deployed, an
error-level finding fails it, and the lifecycle still runs (install deploys and passes); a
warning (what breaks only under some conditions) is shown and never fails it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from runner.recipe import git
from tests.e2e.support import RunOutcome


def test_an_undefined_variable_fails_the_lint_tier_while_install_still_passes(
        run_ci: Callable[..., RunOutcome], recipe_variant: Callable[..., Path]) -> None:
    def misspell(repo: Path) -> None:  # docker deploys it, interpolating ${GRETING} as ""
        compose = repo / "compose.yml"
        compose.write_text(compose.read_text().replace("      - DOMAIN\n", "      - DOMAIN\n      - GREETING=${GRETING}\n"))
    repo = recipe_variant(misspell, "feat: a greeting")
    done = run_ci(RECIPE=str(repo))  # STAGES unset: lint,install,idempotent
    results = done.results
    assert done.returncode == 1, done.stderr[-3000:]
    assert [(t["op"], t["verdict"]) for t in results["tiers"][:2]] == [("lint", "fail"), ("install", "pass")]
    assert results["deploy_count"] == 1 and results["teardown_clean"] is True
    log = (done.run_dirs[0] / "logs" / "tier-lint.log").read_text()
    assert "CCCI-L14  error compose.yml:16: ${GRETING} is set by neither .env.sample, abra.sh nor the harness (which sets STACK_NAME)" in log
    assert results["ladder"][4]["name"] == "lint" and results["ladder"][4]["state"] == "fail"


def test_warnings_alone_pass_the_lint_tier(run_ci: Callable[..., RunOutcome],
                                           recipe_variant: Callable[..., Path]) -> None:
    """Issue 24: a secret name that fits docker only for domains up to 43 characters (the CI's
    own stack name fits), and a release tagged lightweight: warnings, the tier passes."""
    def long_name_lightweight_tag(repo: Path) -> None:
        for name in ("compose.admin.yml", ".env.sample"):
            path = repo / name
            path.write_text(path.read_text().replace("admin_password", "livebook_password")
                            .replace("ADMIN_PASSWORD", "LIVEBOOK_PASSWORD"))
        git.git(repo, "tag", "-d", "1.1.0+1.1")
        git.git(repo, "tag", "1.1.0+1.1", "HEAD~1")
    repo = recipe_variant(long_name_lightweight_tag, "feat: the livebook password")
    done = run_ci(RECIPE=str(repo), STAGES="lint")  # nothing deployed
    assert done.returncode == 0, done.stderr[-3000:]
    ran = [(t["op"], t["verdict"]) for t in done.results["tiers"] if t["verdict"] != "skip"]
    assert ran == [("lint", "pass")] and done.results["deploy_count"] == 0
    out = done.stdout + done.stderr
    assert ("CCCI-L11  warn  compose.admin.yml: secret livebook_password's docker name "
            "'${STACK_NAME}_livebook_password_${SECRET_LIVEBOOK_PASSWORD_VERSION}' breaks for domains longer than "
            "43 characters") in out
    assert "CCCI-L09  warn  git tag 1.1.0+1.1: a lightweight tag" in out
