"""Real runs of the bundled example recipe on the local swarm."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.targets.local import connect as docker_client
from tests.e2e.support import RunOutcome, named_for, own_domain_base, suite_objects, tier

pytestmark = pytest.mark.e2e


def _stack_objects(stack: str) -> list[str]:
    return [o for o in suite_objects() if stack in o]


def test_install_tier_passes_with_one_deploy_and_a_clean_teardown(run_ci: Callable[..., RunOutcome]) -> None:
    outcome = run_ci(RECIPE="custom-html-tiny")
    assert outcome.returncode == 0, outcome.stderr
    results = outcome.results
    assert results["verdict"] == "pass" and results["exit_code"] == 0
    assert results["deploy_count"] == 1
    install = tier(results, "install")
    assert install["verdict"] == "pass"
    assert install["counts"]["passed"] >= 6 and "failed" not in install["counts"]
    assert install["files"] == ["tests/_generic/test_install.py", "tests/custom-html-tiny/test_install.py"]
    assert tier(results, "lint")["verdict"] == "pass"  # STAGES unset: lint,install,idempotent
    # the unchanged redeploy changed no service spec and restarted no task (docs/generic-floor.md)
    assert tier(results, "idempotent")["verdict"] == "pass"
    rest = [t["verdict"] for t in results["tiers"] if t["op"] not in ("lint", "install", "idempotent")]
    assert rest == ["skip"] * (len(results["tiers"]) - 3)
    # the PR head of the fixture is a commit after the last release: a chaos deploy of 1.1.0+1.1,
    # redeployed so by the idempotence check
    deployment, redeployed = results["deployments"]
    assert deployment["op"] == "install"
    assert deployment["chaos"] is True and deployment["version"] == "1.1.0+1.1"
    assert (redeployed["op"], redeployed["commit"], redeployed["chaos"]) == ("idempotent", deployment["commit"], True)
    assert "redeployed in" in outcome.stderr and "nothing changed" in outcome.stderr
    assert results["teardown_clean"] is True and results["teardown_leftovers"] == []
    assert "deploy-count: 1" in outcome.stderr
    assert "teardown left nothing behind" in outcome.stderr
    assert _stack_objects(results["stack"]) == []


def test_installing_a_release_deploys_that_tag(run_ci: Callable[..., RunOutcome]) -> None:
    outcome = run_ci(RECIPE="custom-html-tiny", VERSION="1.0.0+1.0")
    assert outcome.returncode == 0, outcome.stderr
    results = outcome.results
    deployment, redeployed = results["deployments"]
    assert (deployment["op"], deployment["version"], deployment["chaos"]) == ("install", "1.0.0+1.0", False)
    # the idempotence check redeploys the release as a release, and nothing changes
    assert (redeployed["op"], redeployed["version"], redeployed["chaos"]) == ("idempotent", "1.0.0+1.0", False)
    assert tier(results, "idempotent")["verdict"] == "pass"
    assert "redeployed in" in outcome.stderr and "nothing changed" in outcome.stderr
    assert results["deploy_count"] == 1 and results["teardown_clean"] is True


def test_a_recipe_whose_healthcheck_never_passes_fails_with_exit_3_naming_the_service(
    run_ci: Callable[..., RunOutcome], recipe_variant: Callable[..., Path]
) -> None:
    def break_healthcheck(repo: Path) -> None:
        compose = repo / "compose.yml"
        compose.write_text(compose.read_text().replace("http://127.0.0.1/", "http://127.0.0.1/missing"))
        sample = repo / ".env.sample"
        sample.write_text(sample.read_text().replace("#TIMEOUT=120", "TIMEOUT=12"))  # health checks every 2 s

    repo = recipe_variant(break_healthcheck, "break the healthcheck")
    outcome = run_ci(RECIPE=str(repo))
    assert outcome.returncode == 3, outcome.stderr
    results = outcome.results
    stack = results["stack"]
    assert re.search(rf"service {stack}_app did not converge within 12s", results["error"])
    assert "last healthcheck: exit 1" in results["error"]
    assert f"service {stack}_app" in outcome.stderr
    assert results["deploy_count"] == 1
    assert tier(results, "install")["verdict"] == "error"
    assert tier(results, "install")["error"] == results["error"]
    assert results["teardown_leftovers"] == []
    assert _stack_objects(stack) == []


@pytest.mark.parametrize(
    ("recipe", "message"),
    [
        ("/nonexistent/recipe", "RECIPE: '/nonexistent/recipe' is neither a recipe name"),
        ("../../etc", "RECIPE: '../../etc' .* is not a recipe"),
    ],
)
def test_a_bad_recipe_exits_2_before_anything_is_deployed(
    run_ci: Callable[..., RunOutcome], recipe: str, message: str, tmp_path: Path
) -> None:
    # Run from a directory where `../../etc` exists and is not a recipe, wherever the suite lives.
    (tmp_path / "etc").mkdir()
    cwd = tmp_path / "work" / "here"
    cwd.mkdir(parents=True)
    base = own_domain_base()
    outcome = run_ci(RECIPE=recipe, cwd=cwd, CCCI_DOMAIN_BASE=base)
    assert outcome.returncode == 2
    assert re.fullmatch(rf"cc-ci: error: {message}.*\n", outcome.stderr)
    assert outcome.run_dirs == []
    assert named_for(base, [s.name for s in docker_client().secrets.list()] + suite_objects()) == []


def test_an_unknown_ref_exits_2_and_leaves_no_run_dir(run_ci: Callable[..., RunOutcome]) -> None:
    outcome = run_ci(RECIPE="custom-html-tiny", REF="no-such-branch")
    assert outcome.returncode == 2
    assert "REF: 'no-such-branch' is not a commit, branch or tag of custom-html-tiny" in outcome.stderr
    assert outcome.run_dirs == []
