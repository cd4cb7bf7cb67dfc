"""Convergence fails fast, and says why, when tasks keep failing the same way; a slow start waits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.support import RunOutcome, suite_objects, tier

pytestmark = pytest.mark.e2e


def test_an_image_that_does_not_exist_fails_in_seconds_with_the_task_error(
    run_ci: Callable[..., RunOutcome], recipe_variant: Callable[..., Path]
) -> None:
    def ship_a_missing_image(repo: Path) -> None:
        compose = repo / "compose.yml"
        compose.write_text(compose.read_text().replace("custom-html-tiny:1.1", "custom-html-tiny:9.9"))

    outcome = run_ci(RECIPE=str(recipe_variant(ship_a_missing_image, "ship an image nobody built")),
                     CCCI_RESOLVE_IMAGE="never")
    assert outcome.returncode == 3, outcome.stderr
    results = outcome.results
    stack = results["stack"]
    assert results["error"].startswith(f"service {stack}_app gave up: its last 3 tasks failed the same way: "
                                       "No such image: ccci-local/custom-html-tiny:9.9")
    assert tier(results, "install")["error"] == results["error"]
    assert results["duration_s"] < 40, "the recipe's timeout is 120 s; three rejections take seconds"
    assert results["teardown_leftovers"] == []
    assert [o for o in suite_objects() if stack in o] == []


def test_a_service_that_crashes_twice_before_it_starts_is_not_cut_short(
    run_ci: Callable[..., RunOutcome], recipe_variant: Callable[..., Path], tmp_path: Path
) -> None:
    starts = tmp_path / "starts"
    starts.mkdir()

    def crash_twice_first(repo: Path) -> None:  # e.g. an app whose database is not up yet
        compose = repo / "compose.yml"
        compose.write_text(compose.read_text().replace(
            "        condition: on-failure\n", "        condition: on-failure\n        delay: 1s\n"))
        admin = repo / "compose.admin.yml"
        admin.write_text(admin.read_text().replace(
            "cp /etc/httpd.conf /tmp/httpd.conf &&",
            "n=$$(cat /starts/n 2>/dev/null || echo 0) && echo $$((n+1)) > /starts/n &&"
            " { [ $$n -ge 2 ] || exit 1; } && cp /etc/httpd.conf /tmp/httpd.conf &&",
        ).replace("    secrets:\n      - admin_password\n",
                  f"    secrets:\n      - admin_password\n    volumes:\n      - {starts}:/starts\n", 1))

    # install alone: the convergence under test is install's (lint and the idempotent redeploy of
    # the default stages add nothing to it)
    outcome = run_ci(RECIPE=str(recipe_variant(crash_twice_first, "crash twice before starting")), STAGES="install")
    assert outcome.returncode == 0, outcome.stderr
    assert (starts / "n").read_text().strip() == "3"  # two crashes (non-zero exit (1)), then up
    assert outcome.results["teardown_leftovers"] == []
