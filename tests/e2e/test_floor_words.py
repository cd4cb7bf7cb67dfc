"""The generic floor fails in words on real runs (issue 24): a recipe that labels its version the
old way, and a release that renames a volume, each fail their floor in a sentence that names the
label and its fix, or the mount and both volumes; teardown stays clean."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree

import pytest

from runner.run.rundir import RunDir
from tests.e2e.support import RunOutcome, suite_objects, tier

pytestmark = pytest.mark.e2e


def _failures(outcome: RunOutcome, op: str) -> dict[str, str]:
    """Each failed test of the tier, by name, with the message pytest recorded for it."""
    (run_dir,) = outcome.run_dirs
    junit = ElementTree.parse(RunDir(run_dir).junit(op))
    return {str(case.get("name")): str(failure.get("message")) for case in junit.iter("testcase")
            for failure in case.iter("failure")}


def _torn_down(outcome: RunOutcome) -> None:
    results = outcome.results
    assert results["teardown_leftovers"] == []
    assert [o for o in suite_objects() if results["stack"] in o] == []


def test_the_old_version_label_fails_the_install_naming_it_and_the_fix(
    run_ci: Callable[..., RunOutcome], recipe_variant: Callable[..., Path]
) -> None:
    def label_the_version_the_old_way(repo: Path) -> None:  # as older Co-op Cloud recipes do
        compose = repo / "compose.yml"
        compose.write_text(compose.read_text().replace("coop-cloud.${STACK_NAME}.version=",
                                                       "coop-cloud.${STACK_NAME}.app.version="))

    outcome = run_ci(RECIPE=str(recipe_variant(label_the_version_the_old_way, "the old version label")),
                     STAGES="install")
    assert outcome.returncode == 1, outcome.stderr
    assert tier(outcome.results, "install")["verdict"] == "fail"
    message = _failures(outcome, "install")["test_the_deployed_version_label_is_the_version_installed"]
    first = message.splitlines()[0]
    assert first.startswith("AssertionError: the app's services carry no `coop-cloud."), message
    assert ".app.version=1.1.0+1.1` (older Co-op Cloud recipes): rename it to `coop-cloud.${STACK_NAME}.version`" \
        in first, message
    assert "assert None ==" not in message, message
    _torn_down(outcome)


def test_a_release_that_renames_a_volume_fails_the_upgrade_naming_the_mount_and_both_volumes(
    run_ci: Callable[..., RunOutcome], recipe_variant: Callable[..., Path]
) -> None:
    def rename_the_content_volume(repo: Path) -> None:  # content -> site: docker makes site empty
        compose = repo / "compose.yml"
        compose.write_text(compose.read_text().replace("- content:/srv/www", "- site:/srv/www")
                           .replace("volumes:\n  content:\n", "volumes:\n  site:\n"))

    outcome = run_ci(RECIPE=str(recipe_variant(rename_the_content_volume, "rename the content volume")),
                     STAGES="install,upgrade")
    assert outcome.returncode == 1, outcome.stderr
    assert tier(outcome.results, "upgrade")["verdict"] == "fail"
    failed = _failures(outcome, "upgrade")
    assert failed["test_the_upgrade_kept_every_volume"].splitlines()[0] == (
        "AssertionError: app: /srv/www moved from volume content to site; the data did not follow (content still "
        "holds it): keep mounting volume content at /srv/www, or have the release move the data and say so in its "
        "release note"), failed
    _torn_down(outcome)
