"""The idempotence check on the local swarm: a recipe whose config name moves with every deploy
fails the tier, naming the service and the spec field, and is still deployed once.

That redeploying the installed example unchanged changes no service spec and restarts no task is
checked by the runs that deploy it anyway: the PR head (a chaos deploy) and a release by the swarm
driver in tests/e2e/test_install_run.py (whose runs include the idempotent stage), the PR head by
the abra driver in tests/e2e/test_abra_driver.py (one of its two runs at once)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

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
