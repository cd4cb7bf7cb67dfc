"""`cc-ci render`: the compose the swarm driver's deploy hands the swarm, read back from the swarm
after a real deploy: every service's image, deploy labels, environment and endpoint mode as the
live service spec has them; `--diff base` shows what the upgrade changes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from runner.drivers import create_driver
from runner.ops import LIFECYCLE
from runner.plumbing.paths import REPO_ROOT
from runner.recipe import git
from runner.recipe.repos import bundled_recipe_repo
from runner.run.config import RunConfig
from runner.targets import open_target
from tests.e2e.conftest import SUITE_DOMAIN_BASE


def test_the_rendered_compose_is_what_the_swarm_runs(tmp_path: Path) -> None:
    config = RunConfig.from_env({"RECIPE": "custom-html-tiny", "CCCI_RUNS_DIR": str(tmp_path),
                                 "CCCI_DOMAIN_BASE": SUITE_DOMAIN_BASE}, LIFECYCLE)
    run_dir = tmp_path / config.run_id
    (run_dir / "logs").mkdir(parents=True)
    checkout = run_dir / "recipe"
    git.git(None, "clone", "-q", str(bundled_recipe_repo("custom-html-tiny")), str(checkout))
    head = git.rev_parse(checkout, "HEAD")
    driver = create_driver("swarm", config.driver_settings, open_target(config.target_settings))
    app = driver.new_app("custom-html-tiny", checkout, config.run_id, run_dir, ref=head)
    try:
        driver.deploy(app, head)
        rendered = yaml.safe_load(driver.render(app, head))  # type: ignore[attr-defined]
        assert set(rendered["services"]) == {"app"}
        for name, service in rendered["services"].items():
            live = driver.target.client.services.get(f"{app.stack}_{name}").attrs["Spec"]
            labels = {k: v for k, v in live["Labels"].items() if not k.startswith("com.docker.stack.")}
            assert labels == service["deploy"]["labels"]
            container = live["TaskTemplate"]["ContainerSpec"]
            assert container["Image"].split("@")[0] == service["image"]
            assert dict(e.split("=", 1) for e in container.get("Env", [])) == service["environment"]
            assert live["EndpointSpec"]["Mode"] == service["deploy"].get("endpoint_mode", "vip")
    finally:
        assert driver.teardown(app) == []
        driver.target.close()


def test_render_diff_base_shows_the_upgrade(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "runner.cli", "render", "custom-html-tiny", "--diff", "base"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("--- 1.0.0+1.0 (install)\n+++ f5984612640d (upgrade)\n")
    lines = done.stdout.splitlines()
    assert "-    image: ccci-local/custom-html-tiny:1.0" in lines and "+    image: ccci-local/custom-html-tiny:1.1" in lines
    assert any(line.startswith("+") and line.endswith(".chaos-version: f5984612") for line in lines)
