"""Runs whose assertions fail: exit 1, teardown still clean, and secrets masked everywhere."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runner.plumbing.scrub import MASK
from tests.e2e.support import RunOutcome, suite_objects, tier

pytestmark = pytest.mark.e2e


def test_a_failing_overlay_assertion_exits_1_and_still_tears_down(
    run_ci: Callable[..., RunOutcome], recipe_variant: Callable[..., Path]
) -> None:
    def ship_the_old_image(repo: Path) -> None:  # labelled 1.1.0+1.1 but serving 1.0's page
        compose = repo / "compose.yml"
        compose.write_text(compose.read_text().replace("custom-html-tiny:1.1", "custom-html-tiny:1.0"))

    outcome = run_ci(RECIPE=str(recipe_variant(ship_the_old_image, "regress the image")))
    assert outcome.returncode == 1, outcome.stderr
    results = outcome.results
    install = tier(results, "install")
    assert (install["verdict"], install["counts"]["failed"]) == ("fail", 1)
    assert "test_the_page_is_the_deployed_releases" in outcome.stderr
    assert results["teardown_leftovers"] == []
    assert [o for o in suite_objects() if results["stack"] in o] == []


def test_a_generated_secret_that_reaches_an_assertion_message_is_masked_everywhere(
    run_ci: Callable[..., RunOutcome], recipe_variant: Callable[..., Path], tmp_path: Path
) -> None:
    leak_dir = tmp_path / "leak"
    leak_dir.mkdir()

    def serve_the_password(repo: Path) -> None:
        admin = repo / "compose.admin.yml"
        text = admin.read_text().replace(
            "cp /etc/httpd.conf /tmp/httpd.conf &&",
            "cp /run/secrets/admin_password /srv/www/index.html && cp /run/secrets/admin_password /leak/pw &&"
            " cp /etc/httpd.conf /tmp/httpd.conf &&",
        ).replace("    secrets:\n      - admin_password\n",
                  f"    secrets:\n      - admin_password\n    volumes:\n      - {leak_dir}:/leak\n", 1)
        admin.write_text(text)

    outcome = run_ci(RECIPE=str(recipe_variant(serve_the_password, "leak the admin password")))
    assert outcome.returncode == 1, outcome.stderr
    password = (leak_dir / "pw").read_text()
    assert len(password) == 24
    outputs = {"stdout": outcome.stdout, "stderr": outcome.stderr}
    (run_dir,) = outcome.run_dirs
    outputs |= {str(p): p.read_text(errors="replace") for p in run_dir.rglob("*") if p.is_file() and ".git" not in p.parts}
    leaked = [name for name, text in outputs.items() if password in text]
    assert leaked == []
    # the assertion message did quote the page, so the mask proves the scrubber did the work
    assert MASK in (run_dir / "logs" / "tier-install.log").read_text()
    assert MASK in (run_dir / "junit-install.xml").read_text()


def test_a_stack_deploy_that_docker_refuses_counts_no_deploy(
    run_ci: Callable[..., RunOutcome], recipe_variant: Callable[..., Path]
) -> None:
    """deploy-count counts stacks docker created: a refused `docker stack deploy` is 0, not 1."""
    def join_a_network_that_does_not_exist(repo: Path) -> None:
        compose = repo / "compose.yml"
        text = compose.read_text().replace("    networks:\n      - proxy\n", "    networks:\n      - proxy\n      - nowhere\n", 1)
        compose.write_text(text.replace("networks:\n  proxy:\n    external: true\n",
                                        "networks:\n  proxy:\n    external: true\n  nowhere:\n    external: true\n"))

    outcome = run_ci(RECIPE=str(recipe_variant(join_a_network_that_does_not_exist, "a network nobody made")))
    assert outcome.returncode == 3, outcome.stderr
    results = outcome.results
    install = tier(results, "install")
    assert install["verdict"] == "error" and "nowhere" in install["error"], install
    assert results["deploy_count"] == 0 and "deploy-count: 0" in outcome.stderr
    assert results["teardown_leftovers"] == [] and [o for o in suite_objects() if results["stack"] in o] == []
