"""Backup and restore of apps shaped like real ones, on the real swarm: an app that rewrites a file
of its volume every second passes the backup and restore floors (the witnesses prove the restore,
the read-back puts the app's writes down to the app); a recipe labelled for backups that mounts no
volume fails its backup tier saying why (exit 1, not 3); label warnings and a missing labelled
path are named in results.json and summary.md."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

from tests.e2e.support import RunOutcome, suite_objects, tier

pytestmark = pytest.mark.e2e

BUSY = """  busy:
    image: ccci-local/custom-html-tiny:1.0
    command: ["sh", "-c", "while true; do date > /srv/www/heartbeat.txt; sleep 1; done"]
    volumes:
      - content:/srv/www
    deploy:
      restart_policy:
        condition: on-failure

volumes:
"""


def _empty_overlays(tmp_path: Path) -> str:
    """The example's overlays and hooks check its own markers; these variants get the floor only."""
    overlays = tmp_path / "no-overlays"
    overlays.mkdir(exist_ok=True)
    return str(overlays)


def _edit(replacements: list[tuple[str, str]]) -> Callable[[Path], None]:
    def change(repo: Path) -> None:
        compose = repo / "compose.yml"
        text = compose.read_text()
        for old, new in replacements:
            assert old in text, old
            text = text.replace(old, new, 1)
        compose.write_text(text)
    return change


def _op_state(outcome: RunOutcome) -> dict[str, Any]:
    (run_dir,) = outcome.run_dirs
    return cast(dict[str, Any], json.loads((run_dir / "op_state.json").read_text()))


def _nothing_left(outcome: RunOutcome) -> None:
    assert outcome.results["teardown_leftovers"] == []
    assert [o for o in suite_objects() if outcome.results["stack"] in o] == []


def test_an_app_that_writes_every_second_passes_backup_and_restore(
    run_ci: Callable[..., RunOutcome], recipe_variant: Callable[..., Path], tmp_path: Path
) -> None:
    repo = recipe_variant(_edit([("\nvolumes:\n", "\n" + BUSY)]), "a service that rewrites a file every second")
    outcome = run_ci(RECIPE=str(repo), STAGES="backup,restore", CCCI_OVERLAY_DIR=_empty_overlays(tmp_path))
    assert outcome.returncode == 0, outcome.stderr
    assert [tier(outcome.results, op)["verdict"] for op in ("install", "backup", "restore")] == ["pass"] * 3
    ops = _op_state(outcome)["ops"]
    snapshot, restored = ops["backup"]["snapshot"], ops["restore"]["restore"]
    assert ("content", "heartbeat.txt") in {(f["volume"], f["path"]) for f in snapshot["files"]}
    (witness,) = snapshot["witnesses"]
    assert witness["volume"] == "content" and witness["path"].startswith(".cc-ci-witness-")
    assert restored["mismatched"] == []
    assert restored["verified"] + len(restored["rewritten_by_app"]) == len(snapshot["files"])
    _nothing_left(outcome)


def test_a_recipe_labelled_for_backups_without_a_volume_fails_its_backup_tier_saying_why(
    run_ci: Callable[..., RunOutcome], recipe_variant: Callable[..., Path], tmp_path: Path
) -> None:
    repo = recipe_variant(_edit([("    volumes:\n      - content:/srv/www\n", ""),
                                 ('        - "backupbot.backup.path=/srv/www"\n', ""),
                                 ("volumes:\n  content:\n", "")]), "no volume, still labelled for backups")
    outcome = run_ci(RECIPE=str(repo), STAGES="backup,restore", CCCI_OVERLAY_DIR=_empty_overlays(tmp_path))
    assert outcome.returncode == 1, outcome.stderr
    results = outcome.results
    assert results["error"] is None, "a recipe finding, not an infrastructure error"
    assert tier(results, "backup")["verdict"] == "fail"
    reason = "no service of the stack mounts a volume: there is nothing to back up"
    (run_dir,) = outcome.run_dirs
    assert reason in (run_dir / "logs" / "tier-backup.log").read_text()
    restore = tier(results, "restore")
    assert restore["verdict"] == "skip" and restore["error"].startswith("the backup took no snapshot: ")
    assert reason in restore["error"]
    _nothing_left(outcome)


def test_a_misspelt_label_and_a_missing_labelled_path_are_named_in_the_reports(
    run_ci: Callable[..., RunOutcome], recipe_variant: Callable[..., Path], tmp_path: Path
) -> None:
    labels = ('        - "backupbot.backup.path=/srv/www"\n'
              '        - "backupbot.backup.pre-hok=echo dump > /srv/www/dump.sql"\n'
              '        - "backupbot.backup.volumes.data.path=uploads"\n')
    repo = recipe_variant(_edit([('        - "backupbot.backup.path=/srv/www"\n', labels),
                                 ("      - content:/srv/www\n", "      - content:/srv/www\n      - data:/data\n"),
                                 ("volumes:\n  content:\n", "volumes:\n  content:\n  data:\n")]),
                          "a misspelt hook label; an uploads path a fresh install has not made")
    outcome = run_ci(RECIPE=str(repo), STAGES="backup", CCCI_OVERLAY_DIR=_empty_overlays(tmp_path))
    assert outcome.returncode == 0, outcome.stderr
    notes = outcome.results["notes"]["backup"]
    assert any("backupbot.backup.pre-hok on app" in n and "did you mean backupbot.backup.pre-hook?" in n for n in notes)
    assert any(n.startswith("labelled path missing, not taken: data:uploads") for n in notes)
    (run_dir,) = outcome.run_dirs
    summary = (run_dir / "summary.md").read_text()
    assert "backupbot.backup.pre-hok" in summary and "data:uploads" in summary
    assert "did you mean backupbot.backup.pre-hook?" in outcome.stderr
    _nothing_left(outcome)
