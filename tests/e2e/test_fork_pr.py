"""A PR from a fork: its head is in no branch of the recipe repo, only in `refs/pull/<n>/head`,
where the forge publishes it. The run fetches it from there, deploys it, and refuses to deploy
anything when it is not the head the run is bound to."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.errors import EXIT_HEAD_MISMATCH
from runner.plumbing.paths import REPO_ROOT
from runner.recipe import git
from runner.recipe.repos import bundled_recipe_repo
from tests.e2e.conftest import SUITE_DOMAIN_BASE
from tests.e2e.support import RunOutcome, named_for, own_domain_base, suite_objects

pytestmark = pytest.mark.e2e

PR = 7
NAME = "fork-demo"  # not bundled: cloned over file:// from the stand-in forge below


@pytest.fixture
def forge(tmp_path: Path, recipe_variant: Callable[[Callable[[Path], None], str], Path]) -> tuple[dict[str, str], str]:
    """A bare base repo (the example) and a fork with one more commit, published in the base as
    refs/pull/7/head exactly as a forge does. Returns the run's env for the base, and the fork's head."""
    base = tmp_path / "forge" / f"{NAME}.git"
    git.git(None, "clone", "-q", "--bare", str(bundled_recipe_repo("custom-html-tiny")), str(base))

    def change(repo: Path) -> None:
        sample = repo / ".env.sample"
        sample.write_text(sample.read_text() + "\n# from the fork\n")

    fork = recipe_variant(change, "a change that exists only in the fork")
    git.git(fork, "push", "-q", str(base), f"HEAD:refs/pull/{PR}/head")
    env = {"RECIPE": NAME, "CCCI_RECIPE_URL_TEMPLATE": f"file://{base.parent}/{{name}}.git",
           "CCCI_RESOLVE_IMAGE": "never",  # the example's images exist only locally
           "CCCI_OVERLAY_DIR": str(REPO_ROOT / "tests" / "custom-html-tiny")}
    return env, git.rev_parse(fork, "HEAD")


def test_a_fork_prs_head_is_fetched_from_the_pull_ref_and_deployed(
        run_ci: Callable[..., RunOutcome], forge: tuple[dict[str, str], str]) -> None:
    env, head = forge
    outcome = run_ci(**env, PR=str(PR), REF=head, STAGES="install")
    assert outcome.returncode == 0, outcome.stderr
    results = outcome.results
    assert results["head_commit"] == head
    (deployment,) = results["deployments"]
    assert deployment["commit"] == head
    assert f"PR #{PR}: head {head[:12]} (refs/pull/{PR}/head of the recipe repo)" in outcome.stderr
    assert results["teardown_clean"] is True


def test_a_pr_head_other_than_the_bound_one_is_refused_before_anything_is_deployed(
        run_ci: Callable[..., RunOutcome], forge: tuple[dict[str, str], str]) -> None:
    env, head = forge
    bound = git.rev_parse(bundled_recipe_repo("custom-html-tiny"), "HEAD")  # the PR's head before the fork pushed
    domain_base = own_domain_base()  # the other tests here deploy fork-demo at the same time
    outcome = run_ci(**env, PR=str(PR), REF=bound, STAGES="install", CCCI_DOMAIN_BASE=domain_base)
    assert outcome.returncode == EXIT_HEAD_MISMATCH, outcome.stderr
    (line,) = [line for line in outcome.stderr.splitlines() if line.startswith("cc-ci: error:")]
    assert f"bound to head {bound}, but refs/pull/{PR}/head is {head[:12]}" in line
    assert "nothing was deployed" in line
    assert outcome.run_dirs == []  # refused before the run dir was kept, let alone an app made
    assert named_for(domain_base, suite_objects()) == []


def test_cc_ci_run_pr_by_hand_tests_the_prs_head(tmp_path: Path, forge: tuple[dict[str, str], str]) -> None:
    """`cc-ci run <recipe> --pr N` with no REF: whatever refs/pull/N/head is, a fork's commit too."""
    env, head = forge
    runs = tmp_path / "by-hand-runs"
    full_env = {k: v for k, v in os.environ.items() if k not in ("RECIPE", "REF", "PR", "STAGES", "VERSION")}
    full_env |= {**env, "CCCI_RUNS_DIR": str(runs), "CCCI_DOMAIN_BASE": SUITE_DOMAIN_BASE}
    done = subprocess.run([sys.executable, "-m", "runner.cli", "run", NAME, "--pr", str(PR)], cwd=REPO_ROOT,
                          env=full_env, capture_output=True, text=True, timeout=600)
    outcome = RunOutcome(done.returncode, done.stdout, done.stderr, runs)
    assert outcome.returncode == 0, outcome.stderr
    assert outcome.results["head_commit"] == head
    assert outcome.results["deployments"][0]["commit"] == head
