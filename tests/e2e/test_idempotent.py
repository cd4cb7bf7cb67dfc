"""The idempotence check on the local swarm: redeploying the installed example unchanged changes
no service spec and restarts no task, whether the install was the PR head (a chaos deploy) or a
release, by the swarm driver and by the abra driver (the stand-in abra); a recipe whose config
name moves with every deploy fails the tier, naming the service and the spec field, and is still
deployed once."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.plumbing.paths import REPO_ROOT
from tests.e2e.support import RunOutcome, tier

# Stands in for a deploy that is not stable: the config's name takes DEPLOY_STAMP from the app
# env, and the recipe's own pre-op hook moves it before the redeploy (a real recipe would get it
# from a timestamp or an unpinned tag; the harness has no clock in the env it deploys with).
_BUMP_STAMP = '''
import re
import time


def pre_idempotent(ctx):
    text = ctx.app.env_file.read_text()
    ctx.app.env_file.write_text(re.sub(r"(?m)^DEPLOY_STAMP=.*$", f"DEPLOY_STAMP={time.time_ns() % 10**6}", text))
    ctx.app.reload_env()
'''


def _abra(tmp_path: Path) -> dict[str, str]:
    """The abra driver with the stand-in abra (tests/fixtures/abra/abra) on PATH."""
    return {"CCCI_DRIVER": "abra", "PATH": f"{REPO_ROOT / 'tests' / 'fixtures' / 'abra'}:{os.environ['PATH']}",
            "ABRA_STANDIN_RECORD": str(tmp_path / "abra-calls.jsonl"),
            "ABRA_STANDIN_SECRETS": str(tmp_path / "abra-secrets.txt"), "CCCI_PICTURES": "0"}


@pytest.mark.parametrize(("head", "abra"), [({}, False), ({"VERSION": "1.1.0+1.1"}, False), ({}, True)],
                         ids=["chaos-head", "release", "abra-chaos-head"])
def test_an_unchanged_redeploy_of_the_example_changes_nothing(
        run_ci: Callable[..., RunOutcome], head: dict[str, str], abra: bool, tmp_path: Path) -> None:
    done = run_ci(RECIPE="custom-html-tiny", STAGES="install,idempotent", **head, **(_abra(tmp_path) if abra else {}))
    results = done.results
    assert done.returncode == 0, done.stderr[-3000:]
    assert tier(results, "idempotent")["verdict"] == "pass"
    assert results["deploy_count"] == 1 and results["teardown_clean"] is True
    assert [d["op"] for d in results["deployments"]] == ["install", "idempotent"]
    assert [d["chaos"] for d in results["deployments"]] == [not head] * 2  # redeployed as installed
    assert "redeployed in" in done.stderr and "nothing changed" in done.stderr


def test_a_config_named_per_deploy_fails_naming_the_service_and_the_field(
        run_ci: Callable[..., RunOutcome], recipe_variant: Callable[..., Path], tmp_path: Path) -> None:
    def stamp_the_config_name(repo: Path) -> None:
        compose = repo / "compose.yml"
        compose.write_text(compose.read_text().replace(
            "name: ${STACK_NAME}_httpd_conf_${HTTPD_CONF_VERSION}",
            "name: ${STACK_NAME}_httpd_conf_${HTTPD_CONF_VERSION}_${DEPLOY_STAMP}").replace(
            "    deploy:\n      restart_policy:", "    stop_grace_period: 1s\n    deploy:\n      restart_policy:"))
        sample = repo / ".env.sample"
        sample.write_text(sample.read_text() + "DEPLOY_STAMP=0\n")
    repo = recipe_variant(stamp_the_config_name, "feat: name the httpd config after the deploy")
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "ops.py").write_text(_BUMP_STAMP)
    done = run_ci(RECIPE=str(repo), STAGES="install,idempotent", CCCI_OVERLAY_DIR=str(overlay))
    results = done.results
    assert done.returncode == 1, done.stderr[-3000:]
    assert (tier(results, "install")["verdict"], tier(results, "idempotent")["verdict"]) == ("pass", "fail")
    assert results["deploy_count"] == 1 and results["teardown_clean"] is True
    log = (done.run_dirs[0] / "logs" / "tier-idempotent.log").read_text()
    assert re.search(r"app: TaskTemplate\.ContainerSpec\.Configs\[0\]\.ConfigName changed: "
                     r"\S+_httpd_conf_(v\d+)_0 -> \S+_httpd_conf_\1_\d+", log), log[-3000:]
    assert "restarted tasks: app: 1 running task(s) replaced" in log, log[-3000:]
