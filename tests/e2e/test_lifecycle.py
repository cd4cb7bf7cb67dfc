"""The whole lifecycle on the local swarm: base selection, upgrade in place, the generic opt-out."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from runner.ops import LIFECYCLE, REGISTRY, OpContext
from runner.ops.upgrade import Upgrade, UpgradeRecord
from runner.orchestrator import Run
from runner.plumbing.paths import REPO_ROOT
from runner.run.config import RunConfig
from runner.run.opstate import OpRecord
from tests.e2e.conftest import SUITE_DOMAIN_BASE
from tests.e2e.support import RunOutcome, asked, suite_objects, tier

pytestmark = pytest.mark.e2e

FIVE = "install,upgrade,backup,restore,custom"  # the five deploying stages


class RedeploysTheBase(Upgrade):
    """A broken upgrade op: it redeploys the base instead of the PR head (and records what the
    head declares, as the real op does)."""

    def perform(self, ctx: OpContext) -> OpRecord:
        app = ctx.live_app
        assert ctx.state.base is not None
        deployment = ctx.driver.upgrade(app, ctx.state.base)
        return UpgradeRecord(op=self.name, deployment=deployment, deploy_count=app.deploy_count,
                        identity=ctx.driver.deployed_identity(app), declared_version="1.1.0+1.1",
                        declared_services=["app"])


def test_the_generic_upgrade_floor_fails_when_the_upgrade_redeployed_the_base(tmp_path: Path) -> None:
    config = RunConfig.from_env({"RECIPE": "custom-html-tiny", "STAGES": "upgrade",
                                 "CCCI_RUNS_DIR": str(tmp_path / "runs"), "CCCI_DOMAIN_BASE": SUITE_DOMAIN_BASE,
                                 "CCCI_OVERLAY_DIR": str(tmp_path)}, LIFECYCLE)  # the generic floor only
    with (tmp_path / "console.log").open("w") as log:
        result = Run(config, console=Console(file=log), ops={**REGISTRY, "upgrade": RedeploysTheBase()}).execute()
    assert result.exit_code == 1
    upgrade = tier(json.loads(json.dumps(result.to_json())), "upgrade")
    assert upgrade["verdict"] == "fail"
    tier_log = (Path(result.run_dir) / "logs" / "tier-upgrade.log").read_text()
    assert "test_the_deployed_chaos_version_is_the_pr_head" in tier_log
    assert "test_the_version_label_is_the_one_the_pr_head_declares" in tier_log
    assert "test_the_upgrade_updated_each_service_in_place" not in tier_log  # it did stay in place
    assert result.teardown_leftovers == []


class RecreatesTheApp(Upgrade):
    """A broken upgrade op: it removes the app's stack and deploys the head as a new one, under
    the same name (what `abra app undeploy` + `deploy` would do), instead of upgrading in place."""

    def perform(self, ctx: OpContext) -> OpRecord:
        assert ctx.driver.teardown(ctx.live_app) == []
        return super().perform(ctx)


def test_the_generic_upgrade_floor_fails_when_the_upgrade_recreated_the_app(tmp_path: Path) -> None:
    config = RunConfig.from_env({"RECIPE": "custom-html-tiny", "STAGES": "upgrade",
                                 "CCCI_RUNS_DIR": str(tmp_path / "runs"), "CCCI_DOMAIN_BASE": SUITE_DOMAIN_BASE,
                                 "CCCI_OVERLAY_DIR": str(tmp_path)}, LIFECYCLE)  # the generic floor only
    with (tmp_path / "console.log").open("w") as log:
        result = Run(config, console=Console(file=log), ops={**REGISTRY, "upgrade": RecreatesTheApp()}).execute()
    assert result.exit_code == 1 and tier(json.loads(json.dumps(result.to_json())), "upgrade")["verdict"] == "fail"
    tier_log = (Path(result.run_dir) / "logs" / "tier-upgrade.log").read_text()
    assert "test_the_upgrade_updated_each_service_in_place" in tier_log  # new service ids
    assert "test_the_deployed_chaos_version_is_the_pr_head" not in tier_log  # it does run the head
    assert result.deploy_count == 2  # counted from docker's side: the stack was created twice
    assert result.teardown_leftovers == []


def _drop_tag(tag: str) -> Callable[[Path], None]:
    def change(repo: Path) -> None:
        subprocess.run(["git", "-C", str(repo), "tag", "-d", tag], check=True, capture_output=True)
        (repo / "README.md").write_text((repo / "README.md").read_text() + "\nA PR without a release.\n")
    return change


def test_a_recipe_with_no_older_release_skips_upgrade_with_the_reason(
    run_ci: Callable[..., RunOutcome], recipe_variant: Callable[..., Path]
) -> None:
    repo = recipe_variant(_drop_tag("1.0.0+1.0"), "docs: a PR on top of the only release")
    outcome = run_ci(RECIPE=str(repo), STAGES="install,upgrade")
    assert outcome.returncode == 0, outcome.stderr
    results = outcome.results
    upgrade = tier(results, "upgrade")
    assert upgrade["verdict"] == "skip"
    assert upgrade["error"] == ("the head is 1.1.0+1.1 plus unreleased commits and no older release "
                                "exists to upgrade from")
    (install,) = results["deployments"]
    assert install["commit"] == results["head_commit"] and install["chaos"] is True


def _bump_label(repo: Path) -> None:
    compose = repo / "compose.yml"
    compose.write_text(compose.read_text().replace(".version=1.1.0+1.1", ".version=1.2.0+1.2"))


def test_upgrade_base_version_in_recipe_meta_pins_the_base(
    run_ci: Callable[..., RunOutcome], recipe_variant: Callable[..., Path], tmp_path: Path
) -> None:
    repo = recipe_variant(_bump_label, "chore: label the head 1.2.0+1.2")  # default base: 1.1.0+1.1
    overlays = tmp_path / "overlays"
    overlays.mkdir()
    (overlays / "recipe_meta.py").write_text('UPGRADE_BASE_VERSION = "1.0.0+1.0"\n')
    outcome = run_ci(RECIPE=str(repo), STAGES="upgrade", CCCI_OVERLAY_DIR=str(overlays))
    assert outcome.returncode == 0, outcome.stderr
    results = outcome.results
    assert results["base"] == "1.0.0+1.0"
    assert results["base_reason"] == "pinned by UPGRADE_BASE_VERSION in recipe_meta.py"
    assert [d["version"] for d in results["deployments"]] == ["1.0.0+1.0", "1.2.0+1.2"]
    assert tier(results, "upgrade")["verdict"] == "pass"


def test_a_pin_that_is_not_a_release_exits_2_before_anything_is_deployed(
    run_ci: Callable[..., RunOutcome], tmp_path: Path
) -> None:
    (tmp_path / "recipe_meta.py").write_text('UPGRADE_BASE_VERSION = "0.9.0+0.9"\n')
    outcome = run_ci(RECIPE="custom-html-tiny", STAGES="upgrade", CCCI_OVERLAY_DIR=str(tmp_path))
    assert outcome.returncode == 2
    assert outcome.stderr.splitlines()[-1] == ("cc-ci: error: recipe_meta.py: UPGRADE_BASE_VERSION '0.9.0+0.9' "
                                               "is not a release tag of the recipe (releases: 1.0.0+1.0, 1.1.0+1.1)")
    assert outcome.run_dirs == []


def _comparable(op_state: dict[str, Any], stack: str, domain: str) -> dict[str, Any]:
    """Op state without what differs between any two runs (ids, names, timings, random markers)."""
    text = json.dumps(op_state).replace(stack, "<stack>").replace(domain, "<domain>")
    text = re.sub(r"\.cc-ci-witness-[0-9a-f]+", ".cc-ci-witness-<hex>", text)  # random by design
    state = json.loads(text)
    state.pop("run_id")
    for record in state["ops"].values():
        record.pop("duration_s")
        if record.get("identity"):  # ids, spec versions and times are the swarm's own: the shape is comparable
            identity = record["identity"]
            record["identity"] = {"stack": identity["stack"], "services": sorted(identity["services"]),
                                  "volumes": sorted(identity["volumes"])}
        if record["deployment"]:
            record["deployment"].pop("duration_s")
            record["deployment"]["labels"] = {k: v for k, v in record["deployment"]["labels"].items()
                                              if not k.startswith("cc-ci.")}
        for seeded in ("seed", "post_seed"):  # random markers: their keys are comparable
            record[seeded] = sorted(record[seeded]) if isinstance(record[seeded], dict) else record[seeded]
        record["witnesses"] = sorted((w["volume"], w["path"]) for w in record.get("witnesses", []))
        if record.get("snapshot"):  # each op's record has its own fields
            snap = record["snapshot"]
            snap["witnesses"] = sorted((w["volume"], w["path"]) for w in snap.get("witnesses", []))
            snap["files"] = sorted((f["volume"], f["path"]) for f in snap["files"])
            for key in ("id", "repository", "export"):
                snap.pop(key)
        if record.get("restore"):
            record["restore"].pop("duration_s")
            record["restore"].pop("snapshot_id")
            record["restore"].pop("changed_by_app", None)  # what the app did after the restore: timing
    return state


def test_two_concurrent_full_runs_one_opted_out_pass_apart_with_the_same_op_state(tmp_path: Path) -> None:
    """Two five-stage runs of the example at once, one with every generic floor opted out; the
    default one is also the example's climb of all five stages with one deploy (lint's pass on the
    example: tests/e2e/test_install_run.py)."""
    # the five deploying stages: with every generic floor opted out, lint would check nothing (empty)
    base_env = {**os.environ, "RECIPE": "custom-html-tiny", "STAGES": FIVE, "CCCI_DOMAIN_BASE": SUITE_DOMAIN_BASE}
    envs = [base_env | {"CCCI_RUNS_DIR": str(tmp_path / "default")},
            base_env | {"CCCI_RUNS_DIR": str(tmp_path / "opted-out"), "CCCI_SKIP_GENERIC": "1"}]
    procs = [subprocess.Popen([sys.executable, "-m", "runner.run_recipe_ci"], cwd=REPO_ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for env in envs]
    outputs = [proc.communicate(timeout=600) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], [err for _, err in outputs]
    (default_dir,), (optout_dir,) = ([p for p in (tmp_path / d).iterdir() if p.is_dir()] for d in ("default", "opted-out"))
    default, optout = (json.loads((d / "results.json").read_text()) for d in (default_dir, optout_dir))
    assert len({default["stack"], optout["stack"]}) == 2 and default["run_dir"] != optout["run_dir"]
    assert all(r["deploy_count"] == 1 and r["teardown_leftovers"] == [] for r in (default, optout))
    for row in asked(optout):  # lint and the rest not in STAGES have no files
        assert row["generic_skipped"] is True and not any("_generic" in f for f in row["files"])
    assert any("_generic" in f for row in default["tiers"] for f in row["files"])
    states = [_comparable(json.loads((d / "op_state.json").read_text()), r["stack"], r["domain"])
              for d, r in ((default_dir, default), (optout_dir, optout))]
    assert states[0] == states[1]
    # the default run climbed all five stages with one deploy: the base release installed, the PR
    # head upgraded in place (a chaos deploy), the base chosen by stepping back from the head
    assert [(t["op"], t["verdict"]) for t in asked(default)] == [(op, "pass") for op in FIVE.split(",")]
    install, upgrade = default["deployments"]
    assert (install["op"], install["version"], install["chaos"]) == ("install", "1.0.0+1.0", False)
    assert (upgrade["op"], upgrade["chaos"]) == ("upgrade", True)
    assert upgrade["commit"] == default["head_commit"]
    assert upgrade["labels"][f"coop-cloud.{default['stack']}.chaos-version"] == default["head_commit"][:8]
    assert default["base"] == "1.0.0+1.0" and "stepped back" in default["base_reason"]
    assert "upgrade base: 1.0.0+1.0" in outputs[0][1]
    assert [o for o in suite_objects() if default["stack"] in o or optout["stack"] in o] == []


def test_an_op_error_mid_run_skips_the_later_tiers_exits_3_and_leaves_nothing(
    run_ci: Callable[..., RunOutcome], tmp_path: Path
) -> None:
    (tmp_path / "ops.py").write_text("def pre_backup(ctx):\n"
                                     "    ctx.exec_in('app', ['cat', '/no/such/dump'])\n")
    outcome = run_ci(RECIPE="custom-html-tiny", STAGES="backup,restore,custom", CCCI_OVERLAY_DIR=str(tmp_path))
    assert outcome.returncode == 3, outcome.stderr
    results = outcome.results
    assert [(t["op"], t["verdict"]) for t in asked(results)] == [
        ("install", "pass"), ("backup", "error"), ("restore", "skip"), ("custom", "skip")]
    backup = tier(results, "backup")
    assert backup["error"].startswith("pre_backup hook failed: ExecError: `cat /no/such/dump` in ")
    assert "exited 1" in backup["error"] and backup["error"] == results["error"]
    assert [tier(results, op)["error"] for op in ("restore", "custom")] == ["after backup failed"] * 2
    assert results["teardown_leftovers"] == []
    assert [o for o in suite_objects() if results["stack"] in o] == []
