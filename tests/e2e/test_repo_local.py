"""Repo-local test code on the real swarm: the gate's canaries, the bundled example with its own
cc-ci/ folder, and recipe settings that change what a run does."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.plumbing.paths import TESTS_DIR
from runner.recipe import git
from runner.recipe.naming import app_domain, stack_name
from tests.e2e.conftest import SUITE_DOMAIN_BASE
from tests.e2e.support import RunOutcome, suite_objects, tier

pytestmark = pytest.mark.e2e

KINDS = ["conftest", "ops", "recipe_meta", "test", "install_steps"]


def _tests_in(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.startswith("def test_"))


# the generic install floor's own tests, and cc-ci's own overlay's: a tier's counts add up from them
GENERIC_INSTALL = _tests_in(TESTS_DIR / "_generic" / "test_install.py")
OWN_INSTALL = _tests_in(TESTS_DIR / "custom-html-tiny" / "test_install.py")


def _write(path: Path) -> str:
    return f"open({str(path)!r}, 'w').write('ran')\n"


def _canaries_in_cc_ci(canaries: Path) -> Callable[[Path], None]:
    """A cc-ci/ folder whose every kind of file leaves a canary when imported or run."""
    def change(repo: Path) -> None:
        folder = repo / "cc-ci"
        folder.mkdir()
        (folder / "conftest.py").write_text(_write(canaries / "conftest"))
        (folder / "ops.py").write_text(_write(canaries / "ops") + "def pre_install(ctx):\n    return None\n")
        (folder / "recipe_meta.py").write_text(_write(canaries / "recipe_meta"))
        (folder / "test_install.py").write_text(_write(canaries / "test") + "def test_it_ran():\n    pass\n")
        (folder / "install_steps.sh").write_text(f"echo ran > {canaries / 'install_steps'}\n")
        git.git(repo, "add", "cc-ci")
    return change


def _allowlist(tmp_path: Path, text: str) -> str:
    path = tmp_path / "approved.txt"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("approval", ["not listed", "by name", "by tree id", "by a stale tree id"])
def test_repo_local_code_runs_only_when_approved_and_a_stale_tree_id_approves_none_of_it(
    run_ci: Callable[..., RunOutcome], recipe_variant: Callable[..., Path], tmp_path: Path, approval: str
) -> None:
    canaries = tmp_path / "canaries"
    canaries.mkdir()
    repo = recipe_variant(_canaries_in_cc_ci(canaries), "cc-ci: canaries")
    tree = git.git(repo, "rev-parse", "HEAD:cc-ci")
    stale = git.git(repo, "rev-parse", "HEAD~1^{tree}")
    entry = {"by name": "custom-html-tiny\n", "by tree id": f"# reviewed\ncustom-html-tiny@{tree}\n",
             "by a stale tree id": f"custom-html-tiny@{stale}\n"}.get(approval)
    # not listed: cc-ci's own tests/repo-local-approved.txt, which approves nothing
    env = {"CCCI_APPROVED_FILE": _allowlist(tmp_path, entry)} if entry else {}
    outcome = run_ci(RECIPE=str(repo), **env)
    assert outcome.returncode == 0, outcome.stderr
    ran = sorted(p.name for p in canaries.iterdir())
    results = outcome.results
    install = tier(results, "install")
    if approval in ("by name", "by tree id"):
        assert ran == sorted(KINDS)
        assert results["repo_local"]["approval"] == approval
        assert install["files"] == ["tests/_generic/test_install.py", "tests/custom-html-tiny/test_install.py"]
        assert install["counts"] == {"passed": GENERIC_INSTALL + 1}  # the repo's test in place of cc-ci's own
    else:
        assert ran == []
        assert results["repo_local"]["ignored"] == [f"cc-ci/{name}" for name in (
            "conftest.py", "install_steps.sh", "ops.py", "recipe_meta.py", "test_install.py")]
        assert f"custom-html-tiny@{tree}" in outcome.stderr and f"`custom-html-tiny@{tree}`" in (
            outcome.run_dirs[0] / "summary.md").read_text()
        assert install["counts"] == {"passed": GENERIC_INSTALL + OWN_INSTALL}  # the floor + cc-ci's own overlay
    assert results["teardown_leftovers"] == [] and [o for o in suite_objects() if results["stack"] in o] == []


def test_the_bundled_example_unapproved_passes_on_cc_cis_own_files_and_names_what_it_ignored(
    run_ci: Callable[..., RunOutcome]
) -> None:
    outcome = run_ci(RECIPE="custom-html-repolocal", STAGES="install,custom")
    assert outcome.returncode == 0, outcome.stderr
    results = outcome.results
    assert tier(results, "install")["files"] == ["tests/_generic/test_install.py",
                                                 "tests/custom-html-repolocal/test_install.py"]
    assert tier(results, "custom")["verdict"] == "skip"
    summary = (outcome.run_dirs[0] / "summary.md").read_text()
    assert "**repo-local `cc-ci/` not approved**: ignored `cc-ci/README.md`, `cc-ci/custom/test_greeting.py`, " \
           "`cc-ci/install_steps.sh`, `cc-ci/ops.py`, `cc-ci/recipe_meta.py`, `cc-ci/test_upgrade.py`" in summary
    assert "is not approved" in outcome.stderr and "ignored: cc-ci/README.md" in outcome.stderr
    assert results["meta"]["HEALTH_PATH"] == "/" and results["level"] == 1


def test_the_bundled_example_approved_runs_its_repo_local_overlay_too(
    run_ci: Callable[..., RunOutcome], tmp_path: Path
) -> None:
    outcome = run_ci(RECIPE="custom-html-repolocal", STAGES="install,custom",
                     CCCI_APPROVED_FILE=_allowlist(tmp_path, "custom-html-repolocal\n"))
    assert outcome.returncode == 0, outcome.stderr
    results = outcome.results
    assert "greeting page on for" in (outcome.run_dirs[0] / "logs" / "install_steps.log").read_text()
    assert "install: ready — READY_PROBE (_greeting_served) true" in outcome.stderr
    assert results["meta"]["HEALTH_PATH"] == "/greeting.txt"  # the generic install check requested it
    custom = tier(results, "custom")
    assert (custom["verdict"], custom["files"], custom["counts"]) == (
        "pass", ["tests/custom-html-repolocal/custom/test_greeting.py"], {"passed": 2})
    assert "custom/test_greeting.py (repo-local)" in outcome.stderr
    assert [r["state"] for r in results["ladder"]] == ["pass", "skip", "n/a", "pass", "skip"]  # L5 lint: not in STAGES
    assert results["level"] == 1 and results["ladder_stop"] == "L1 (stopped at L2 upgrade: upgrade skip — not in STAGES)"


def _overlay(tmp_path: Path, files: dict[str, str]) -> str:
    folder = tmp_path / "overlay"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    return str(folder)


def test_health_path_is_what_the_generic_serving_check_requests(run_ci: Callable[..., RunOutcome], tmp_path: Path) -> None:
    # a 404 is an answer (the app serves, that page is not there): the overlay checks what was asked
    probe = ("def test_the_floor_requested_health_path(serving):\n"
             "    assert serving and {(a.path, a.status) for a in serving} == {('/no-such-page.html', 404)}\n")
    # install alone: what is checked is the install tier's request (lint and the idempotent
    # redeploy of the default stages add nothing to it)
    outcome = run_ci(RECIPE="custom-html-tiny", STAGES="install", CCCI_OVERLAY_DIR=_overlay(
        tmp_path, {"recipe_meta.py": "HEALTH_PATH = '/no-such-page.html'\n", "test_install.py": probe}))
    assert outcome.returncode == 0, outcome.stderr
    assert tier(outcome.results, "install")["counts"] == {"passed": GENERIC_INSTALL + 1}


def test_a_meta_typo_exits_2_before_anything_is_deployed(run_ci: Callable[..., RunOutcome], tmp_path: Path) -> None:
    overlay = _overlay(tmp_path, {"recipe_meta.py": "DEPLOY_TIMOUT = 600\n"})
    run_id = f"meta-typo-{os.urandom(4).hex()}"  # its own: another session may run this test too
    stack = stack_name(app_domain("custom-html-tiny", run_id, SUITE_DOMAIN_BASE))
    outcome = run_ci(RECIPE="custom-html-tiny", CCCI_OVERLAY_DIR=overlay, CCCI_RUN_ID=run_id)
    assert outcome.returncode == 2
    assert outcome.stderr.strip().splitlines()[-1] == (
        f"cc-ci: error: {overlay}/recipe_meta.py:1: unknown setting 'DEPLOY_TIMOUT' (did you mean DEPLOY_TIMEOUT?)")
    assert "deploying" not in outcome.stderr
    assert outcome.run_dirs == [] and [o for o in suite_objects() if stack in o] == []


def test_a_failing_install_steps_is_an_install_error_with_nothing_deployed(
    run_ci: Callable[..., RunOutcome], tmp_path: Path
) -> None:
    overlay = _overlay(tmp_path, {"install_steps.sh": "echo \"enabling SSO for $DOMAIN\"\necho 'no IdP configured' >&2\nexit 4\n"})
    outcome = run_ci(RECIPE="custom-html-tiny", STAGES="install,custom", CCCI_OVERLAY_DIR=overlay)
    assert outcome.returncode == 3, outcome.stderr
    results = outcome.results
    install = tier(results, "install")
    assert install["verdict"] == "error"
    assert install["error"].startswith("install_steps.sh exited 4: enabling SSO for custom-html-tiny-")
    assert install["error"].endswith("| no IdP configured")
    assert results["deploy_count"] == 0 and results["deployments"] == []
    assert results["teardown_leftovers"] == [] and [o for o in suite_objects() if results["stack"] in o] == []


def test_deploy_timeout_is_the_convergence_deadline_of_a_recipe_without_a_timeout_label(
    run_ci: Callable[..., RunOutcome], tmp_path: Path
) -> None:
    # custom-html-repolocal has no coop-cloud.<stack>.timeout label; its first task takes ~2s to be healthy
    outcome = run_ci(RECIPE="custom-html-repolocal",
                     CCCI_OVERLAY_DIR=_overlay(tmp_path, {"recipe_meta.py": "DEPLOY_TIMEOUT = 1\n"}))
    assert outcome.returncode == 3, outcome.stderr
    assert "did not converge within 1s" in tier(outcome.results, "install")["error"]
    assert outcome.results["teardown_leftovers"] == []
