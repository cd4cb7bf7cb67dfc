"""Upgrade chains on the local swarm (UPGRADE_FROM=all): the oldest release installed once, each
newer release and then the PR head upgraded in place, a tier row per hop, the head proven deployed
at the end; a middle release that cannot deploy fails exactly its hop, which the upgrade row names;
UPGRADE_FROM=last-green installs the commit the catalogue's history last saw pass. The example's
chain run goes on through restore-fresh (tests/e2e/test_restore_fresh.py has its failing case)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner.catalogue.history import History
from runner.catalogue.matrix import Row
from runner.recipe import git
from runner.recipe.repos import bundled_recipe_repo
from runner.run.app import App
from tests.e2e.support import RunOutcome, suite_objects, tier


def _rows(results: dict[str, Any]) -> list[tuple[str, str]]:
    return [(t["op"], t["verdict"]) for t in results["tiers"] if t["op"].startswith("upgrade")]


def _head_deployed_last(results: dict[str, Any]) -> None:
    last = results["deployments"][-1]
    assert (last["op"], last["commit"], last["chaos"]) == ("upgrade", results["head_commit"], True)


def test_the_example_upgrades_through_every_release_then_runs_the_rest_of_its_lifecycle(
        run_ci: Callable[..., RunOutcome]) -> None:
    """The rest of its lifecycle includes restore-fresh: the example's snapshot restored into a
    second app of the PR head passes the restore floor and the recipe's restore overlay there."""
    done = run_ci(RECIPE="custom-html-tiny", STAGES="install,upgrade,backup,restore,custom,restore-fresh",
                  UPGRADE_FROM="all")
    results = done.results
    assert done.returncode == 0, done.stderr[-3000:]
    assert _rows(results) == [("upgrade@1.1.0+1.1", "pass"), ("upgrade", "pass")]
    assert results["deploy_count"] == 1 and results["base"] == "1.0.0+1.0"
    assert [(d["op"], d["version"]) for d in results["deployments"][:2]] == [("install", "1.0.0+1.0"),
                                                                             ("upgrade@1.1.0+1.1", "1.1.0+1.1")]
    upgrade, again = results["deployments"][2:]  # the head, upgraded in place; then the fresh app's deploy
    assert (upgrade["op"], upgrade["commit"], upgrade["chaos"]) == ("upgrade", results["head_commit"], True)
    assert tier(results, "restore")["verdict"] == "pass" and results["teardown_clean"] is True
    # restore-fresh: a second app of the PR head, the snapshot restored into it, its tier passed there
    fresh = tier(results, "restore-fresh")
    assert fresh["verdict"] == "pass" and fresh["counts"]["passed"] == 11, fresh  # floor 9, overlay 2
    assert results["apps"] == 2
    assert (again["op"], again["commit"]) == ("restore-fresh", results["head_commit"])
    (run_dir,) = done.run_dirs
    app = App.from_description(json.loads((run_dir / "apps" / "fresh" / "app.json").read_text()))
    assert app.stack != results["stack"] and app.deploy_count == 1
    assert "restore-fresh tier: test_restore.py, test_restore_fresh.py, custom-html-tiny/test_restore.py" \
        in done.stderr  # the recipe's restore overlay, on the fresh app
    assert f"tearing down {app.stack}" in done.stderr and f"tearing down {results['stack']}" in done.stderr
    assert results["teardown_leftovers"] == []
    assert [o for o in suite_objects() if results["stack"] in o or app.stack in o] == []


def test_a_recipe_with_three_releases_hops_through_each(run_ci: Callable[..., RunOutcome]) -> None:
    done = run_ci(RECIPE="hops-tiny", STAGES="upgrade", UPGRADE_FROM="all")
    results = done.results
    assert done.returncode == 0, done.stderr[-3000:]
    assert _rows(results) == [("upgrade@1.1.0+1.1", "pass"), ("upgrade@1.2.0+1.2", "pass"), ("upgrade", "pass")]
    assert all(tier(results, op)["counts"].get("passed", 0) >= 10 for op, _ in _rows(results))  # the whole floor, each hop
    assert results["deploy_count"] == 1 and results["level"] >= 2
    _head_deployed_last(results)


def test_a_middle_release_that_cannot_deploy_fails_exactly_its_hop(
        run_ci: Callable[..., RunOutcome], tmp_path: Path) -> None:
    repo = _hops_with_a_broken_middle_release(tmp_path / "hops-tiny")
    done = run_ci(RECIPE=str(repo), STAGES="upgrade", UPGRADE_FROM="all", CCCI_DEPLOY_TIMEOUT="60")
    results = done.results
    assert done.returncode == 3, done.stderr[-3000:]
    assert _rows(results) == [("upgrade@1.1.0+1.1", "error"), ("upgrade", "error")]
    assert tier(results, "upgrade")["error"] == "upgrade@1.1.0+1.1 error: the chain stopped there"
    assert results["error"].startswith("upgrade@1.1.0+1.1: ") and "missing" in results["error"]
    assert [d["op"] for d in results["deployments"]] == ["install"]  # 1.2.0 and the head never deployed
    assert tier(results, "install")["verdict"] == "pass" and results["teardown_clean"] is True


def _hops_with_a_broken_middle_release(repo: Path) -> Path:
    """hops-tiny whose release 1.1.0+1.1 names an image that does not exist; 1.2.0 and the head as they were."""
    git.git(None, "clone", "-q", str(bundled_recipe_repo("hops-tiny")), str(repo))
    picks = [git.rev_parse(repo, ref) for ref in ("1.1.0+1.1", "1.2.0+1.2", "HEAD")]
    git.git(repo, "checkout", "-q", "-B", "main", "1.0.0+1.0")
    git.git(repo, "cherry-pick", picks[0])
    compose = repo / "compose.yml"
    compose.write_text(compose.read_text().replace("custom-html-tiny:1.1", "custom-html-tiny:missing"))
    git.git(repo, "commit", "-q", "-a", "--amend", "--no-edit")
    git.git(repo, "tag", "-f", "-a", "1.1.0+1.1", "-m", "chore: publish 1.1.0+1.1 release")
    git.git(repo, "cherry-pick", "-X", "theirs", picks[1])  # its image line wins over the broken one
    git.git(repo, "tag", "-f", "-a", "1.2.0+1.2", "-m", "chore: publish 1.2.0+1.2 release")
    git.git(repo, "cherry-pick", picks[2])
    assert "custom-html-tiny:1.2" in compose.read_text()
    return repo


def test_upgrade_from_last_green_installs_the_commit_that_last_passed_the_catalogue(
        run_ci: Callable[..., RunOutcome], tmp_path: Path) -> None:
    green = git.rev_parse(bundled_recipe_repo("hops-tiny"), "1.0.0+1.0")  # `previous` would start at 1.2.0+1.2
    history = History(tmp_path / "catalogue.sqlite")
    history.record(history.start("nightly.yml", 1.0, 86400.0), Row("hops-tiny", green, 2, "pass", finished=2.0))
    history.close()
    done = run_ci(RECIPE="hops-tiny", STAGES="upgrade", UPGRADE_FROM="last-green",
                  CCCI_CATALOGUE_HISTORY=str(tmp_path / "catalogue.sqlite"))
    results = done.results
    assert done.returncode == 0, done.stderr[-3000:]
    assert results["base"] == green and "the last commit that passed the catalogue (catalogue run 1, L2)" in \
        results["base_reason"]
    assert (results["deployments"][0]["op"], results["deployments"][0]["commit"]) == ("install", green)
    assert _rows(results) == [("upgrade", "pass")] and results["deploy_count"] == 1
    _head_deployed_last(results)
