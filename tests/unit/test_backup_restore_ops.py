"""The backup, restore and install ops around witnesses and findings, with a fake driver: a recipe
whose labels leave nothing to take is a failed backup tier (exit 1) saying why, not an
infrastructure error; label warnings and missing paths reach the console, results.json and
summary.md; witnesses are planted unless the recipe opts out, and removed first at teardown."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from runner.errors import InfraError
from runner.ops import LIFECYCLE
from runner.plumbing.paths import TESTS_DIR
from runner.recipe.backupbot import Mount, NoSnapshot, StackView
from runner.run.app import App
from runner.run.opstate import OpState, Snapshot, Witness
from runner.swarm import backup as swarm_backup
from runner.tiers.tier import TierResult, run_tier
from tests.unit.fake_driver import FakeDriver
from tests.unit.rows import six_op_rows
from tests.unit.test_orchestrator import Tiers, _run

NOTHING = ("backupbot.backup=true is set, but no service of the stack mounts a volume: there is nothing to back "
           "up (backup-bot-two would back up none of the app's files either)")
WITNESS = Witness(volume="content", path=".cc-ci-witness-0a", sha256="0" * 64)


def _meta(overlays: Path, text: str) -> None:
    (overlays / "custom-html-tiny" / "recipe_meta.py").write_text(text)


# -- nothing to back up (issue 11 point 6) -------------------------------------------------------

class _Driver(SimpleNamespace):
    def say(self, message: str) -> None:
        self.said.append(message)


def _live(volumes: list[str], labels: dict[str, str]) -> swarm_backup.LiveStack:
    view = StackView(labels={"app": {"backupbot.backup": "true", **labels}},
                     mounts={"app": [Mount(f"/{v}", v) for v in volumes]}, volumes=volumes)
    return swarm_backup.LiveStack(view, {v: f"s_{v}" for v in volumes})


@pytest.mark.parametrize(("volumes", "labels", "reason"), [
    ([], {}, "no service of the stack mounts a volume"),
    (["content"], {"backupbot.backup.volumes.content": "false"}, "the labels exclude every volume of the stack"),
])
def test_the_swarm_backup_of_a_recipe_with_nothing_to_take_is_no_snapshot_not_an_infra_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, volumes: list[str], labels: dict[str, str], reason: str
) -> None:
    monkeypatch.setattr(swarm_backup, "live_stack", lambda client, stack: _live(volumes, labels))
    app = App(recipe="r", run_id="r1", domain="r.test", stack="s", checkout=tmp_path, run_dir=tmp_path, env={})
    with pytest.raises(NoSnapshot, match=reason) as found:
        swarm_backup.backup(_Driver(client=None, said=[]), app, lambda line: None)  # type: ignore[arg-type]
    assert not isinstance(found.value, InfraError)
    assert "backup-bot-two would back up none of the app's files either" in found.value.reason


def _floor_only(tmp_path: Path) -> Path:
    """cc-ci's own conftest and backup floor, and an empty overlay for the example."""
    tests = tmp_path / "floor-tests"
    (tests / "_generic").mkdir(parents=True)
    (tests / "custom-html-tiny").mkdir()
    shutil.copy2(TESTS_DIR / "conftest.py", tests / "conftest.py")
    shutil.copy2(TESTS_DIR / "_generic" / "test_backup.py", tests / "_generic" / "test_backup.py")
    return tests


def _real_backup_tier(op: str, files: list[Path], run_dir: Path, env: dict[str, str]) -> TierResult:
    return run_tier(op, files, run_dir, env) if op == "backup" else TierResult(op, "pass")


@pytest.mark.usefixtures("forked_pytest")  # the verdicts, not the tier's process
def test_nothing_to_back_up_fails_the_backup_tier_with_the_reason_and_restore_skips(tmp_path: Path) -> None:
    driver = FakeDriver(fail={"backup": NoSnapshot(NOTHING, ["warning: backupbot.backup.volume.data on app: …"])})
    result, run = _run(tmp_path, _floor_only(tmp_path), driver, _real_backup_tier, STAGES="backup,restore")
    backup, restore = six_op_rows(result)[3], six_op_rows(result)[4]
    assert (backup.verdict, backup.counts.get("failed")) == ("fail", 1)
    assert result.exit_code == 1 and result.error is None, "a recipe finding, not an infrastructure error"
    assert f"the backup took no snapshot: {NOTHING}" in run.run_dir.tier_log("backup").read_text()
    assert (restore.verdict, restore.error) == ("skip", f"the backup took no snapshot: {NOTHING}")
    state = OpState.load(run.run_dir.op_state, LIFECYCLE.records)
    assert state["backup"].snapshot is None and state["backup"].no_snapshot == NOTHING
    assert result.notes["backup"] == ["warning: backupbot.backup.volume.data on app: …", f"no snapshot: {NOTHING}"]


# -- notes: console, results.json, summary.md (issue 11 point 15) ----------------------------------

class _NotingDriver(FakeDriver):
    def backup(self, app: App, witnesses: bool = True) -> Snapshot:
        taken = super().backup(app, witnesses)
        return taken.model_copy(update={
            "label_notes": ["warning: backupbot.backup.pre-hok on app: not a backupbot label; backup-bot-two "
                            "ignores it; did you mean backupbot.backup.pre-hook?"],
            "missing": ["data:uploads"]})


def test_label_warnings_and_missing_paths_reach_the_console_results_and_summary(tmp_path: Path, overlays: Path) -> None:
    console = io.StringIO()
    result, run = _run(tmp_path, overlays, _NotingDriver(), Tiers(), console=Console(file=console, width=300),
                       STAGES="backup")
    notes = result.notes["backup"]
    assert notes[0].startswith("warning: backupbot.backup.pre-hok on app") and "did you mean backupbot.backup.pre-hook?" \
        in notes[0]
    assert notes[1].startswith("labelled path missing, not taken: data:uploads (a fresh install may not have")
    assert result.exit_code == 0, "neither is a failure on its own"
    assert json.loads(run.run_dir.results.read_text())["notes"] == {"backup": notes}
    summary = run.run_dir.summary.read_text()
    assert all(f"- backup: {note}" in summary for note in notes)
    shown = console.getvalue()
    assert shown.count("backupbot.backup.pre-hok") == 2  # as it happened, and in the final summary
    assert shown.count("data:uploads") == 2


# -- witnesses: planted unless opted out, removed first at teardown --------------------------------

def test_install_plants_witnesses_and_teardown_removes_them_before_anything_else(tmp_path: Path, overlays: Path) -> None:
    driver = FakeDriver()
    driver.target.planted = [WITNESS]
    result, run = _run(tmp_path, overlays, driver, STAGES="install,backup")
    assert driver.calls[-2:] == ["remove_witnesses", "teardown"]
    assert driver.removed == [WITNESS] and driver.backup_witnesses is True
    assert OpState.load(run.run_dir.op_state, LIFECYCLE.records)["install"].witnesses == [WITNESS]
    assert result.teardown_leftovers == []


def test_a_recipe_that_opts_out_gets_no_witness(tmp_path: Path, overlays: Path) -> None:
    _meta(overlays, 'SKIP_WITNESSES = "the app deletes files it does not know"\n')
    driver = FakeDriver()
    driver.target.planted = [WITNESS]
    _run(tmp_path, overlays, driver, STAGES="install,backup")
    assert driver.backup_witnesses is False
    assert "remove_witnesses" not in driver.calls, "nothing was planted"


def test_an_opt_out_needs_its_reason(tmp_path: Path, overlays: Path) -> None:
    _meta(overlays, 'SKIP_WITNESSES = "  "\n')
    with pytest.raises(Exception, match="SKIP_WITNESSES: needs the reason"):
        _run(tmp_path, overlays, FakeDriver(), STAGES="install")


def test_a_witness_removal_that_fails_never_masks_the_teardown(tmp_path: Path, overlays: Path) -> None:
    driver = FakeDriver(fail={"remove_witnesses": InfraError("docker went away")})
    driver.target.planted = [WITNESS]
    console = io.StringIO()
    result, _ = _run(tmp_path, overlays, driver, console=Console(file=console, width=300), STAGES="install")
    assert driver.calls[-2:] == ["remove_witnesses", "teardown"]
    assert result.teardown_leftovers == [] and result.exit_code == 0
    assert "could not remove the 1 witness file(s) (docker went away); tearing down anyway" in console.getvalue()
