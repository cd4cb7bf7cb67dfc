"""Each recipe_meta setting and install_steps.sh doing what it says, through the orchestrator
with a fake driver; the level ladder in results.json, summary.md and the console."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from runner.errors import BadInput
from runner.maintainer import ready
from tests.unit.fake_driver import FakeDriver
from tests.unit.rows import six_op_rows
from tests.unit.test_orchestrator import ALL, HEAD, Tiers, _run


def _meta(overlays: Path, text: str) -> None:
    (overlays / "custom-html-tiny" / "recipe_meta.py").write_text(text)


def _steps(overlays: Path, text: str) -> None:
    (overlays / "custom-html-tiny" / "install_steps.sh").write_text(text)


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ready, "POLL_S", 0.01)


def test_install_steps_runs_once_before_the_first_deploy_and_may_edit_the_app_env(
    tmp_path: Path, overlays: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITEA_TOKEN", "s3cret")
    _steps(overlays, 'set -eu\nprintf "%s\\n" "$DOMAIN" "$STACK_NAME" "$RECIPE_DIR" "${GITEA_TOKEN:-unset}" '
                     '"$(git -C "$RECIPE_DIR" rev-parse HEAD)" >> "$(dirname "$APP_ENV_FILE")/steps-saw.txt"\n'
                     'echo \'COMPOSE_FILE="compose.yml:compose.extra.yml"\' >> "$APP_ENV_FILE"\n')
    driver = FakeDriver()
    result, run = _run(tmp_path, overlays, driver, STAGES="install,upgrade")
    assert driver.calls[:3] == ["new_app", "reload_env", "deploy 1.0.0+1.0"]  # once, before the deploy
    assert driver.calls.count("reload_env") == 1
    assert driver.deployed_env == {"DOMAIN": "custom-html-tiny.test", "COMPOSE_FILE": "compose.yml:compose.extra.yml"}
    saw = (run.run_dir.root / "steps-saw.txt").read_text().splitlines()
    base_commit = saw[4]
    assert saw[:4] == ["custom-html-tiny.test", "custom-html-tiny_test", str(run.run_dir.recipe), "unset"]
    assert base_commit != HEAD and result.exit_code == 0  # RECIPE_DIR is at the ref deployed first: the base


def test_a_failing_install_steps_is_the_install_tiers_error_with_its_output_and_nothing_is_deployed(
    tmp_path: Path, overlays: Path
) -> None:
    _steps(overlays, "echo adding the admin compose file\necho 'compose.admin.yml: no such file' >&2\nexit 7\n")
    driver = FakeDriver()
    result, run = _run(tmp_path, overlays, driver, STAGES=ALL)
    assert driver.calls == ["new_app", "teardown"]
    install = six_op_rows(result)[1]
    assert (install.verdict, install.error) == (
        "error", "install_steps.sh exited 7: adding the admin compose file | compose.admin.yml: no such file")
    assert [t.error for t in six_op_rows(result)[2:]] == ["after install failed"] * 4
    assert result.deploy_count == 0 and result.exit_code == 3 and result.teardown_leftovers == []
    assert "no such file" in run.run_dir.log("install_steps").read_text()


def test_extra_env_is_in_the_app_env_of_the_first_deploy(tmp_path: Path, overlays: Path) -> None:
    _meta(overlays, "EXTRA_ENV = {'GREETING': 'hello \"there\" $USER', 'DOMAIN': 'custom-html-tiny.test'}\n")
    driver = FakeDriver()
    result, _ = _run(tmp_path, overlays, driver)
    assert driver.deployed_env == {"DOMAIN": "custom-html-tiny.test", "GREETING": 'hello "there" $USER'}
    assert result.meta["EXTRA_ENV"] == {"GREETING": 'hello "there" $USER', "DOMAIN": "custom-html-tiny.test"}


def test_deploy_timeout_is_the_drivers_timeout_for_this_recipe(tmp_path: Path, overlays: Path) -> None:
    driver = FakeDriver()
    _run(tmp_path / "a", overlays, driver, CCCI_DEPLOY_TIMEOUT="90")
    assert driver.settings is not None and driver.settings.deploy_timeout_s == 90
    _meta(overlays, "DEPLOY_TIMEOUT = 600\n")
    _run(tmp_path / "b", overlays, driver, CCCI_DEPLOY_TIMEOUT="90")
    assert driver.settings.deploy_timeout_s == 600


_PROBE = """
import json, pathlib
_LOG = pathlib.Path({log!r})

def _ready(ctx):
    calls = json.loads(_LOG.read_text()) if _LOG.exists() else []
    calls.append([ctx.op, ctx.http.get("/").text, ctx.op_state.get(ctx.op) is None])
    _LOG.write_text(json.dumps(calls))
    if len(calls) == 2:
        raise ConnectionError("refused while starting")
    return len(calls) >= 3 and calls[-1][0] != "x"

READY_PROBE = _ready
"""


def test_ready_probe_is_polled_with_the_hook_ctx_after_each_converging_op_until_true(
    tmp_path: Path, overlays: Path
) -> None:
    log = tmp_path / "probe.json"
    _meta(overlays, _PROBE.format(log=str(log)))
    driver = FakeDriver()
    result, run = _run(tmp_path, overlays, driver, STAGES=ALL)
    calls = json.loads(log.read_text())
    # three polls after install (False, raised, True), then one each after upgrade and restore;
    # always before the op's state is recorded, so its tier asserts a ready app
    assert calls == [["install", "ok", True]] * 3 + [["upgrade", "ok", True], ["restore", "ok", True]]
    run_log = run.run_dir.run_log.read_text()
    assert "install: ready — READY_PROBE (_ready) true after 3 poll(s)" in run_log
    assert result.meta["READY_PROBE"] == "_ready" and result.exit_code == 0


def test_a_ready_probe_that_never_holds_is_the_ops_error_after_the_deploy_timeout(
    tmp_path: Path, overlays: Path
) -> None:
    _meta(overlays, "DEPLOY_TIMEOUT = 1\ndef _never(ctx):\n    return False\nREADY_PROBE = _never\n")
    driver = FakeDriver()
    result, _ = _run(tmp_path, overlays, driver, STAGES="install,upgrade")
    install = six_op_rows(result)[1]
    assert install.verdict == "error"
    assert install.error is not None and install.error.startswith("READY_PROBE (_never) not true within 1s (")
    assert install.error.endswith("poll(s)); last call returned False")
    assert not any(c.startswith("upgrade") for c in driver.calls) and driver.calls[-1] == "teardown"
    assert result.exit_code == 3


def test_backup_capable_false_skips_backup_and_restore_with_that_reason(tmp_path: Path, overlays: Path) -> None:
    _meta(overlays, "BACKUP_CAPABLE = False\n")
    driver = FakeDriver()
    result, _ = _run(tmp_path, overlays, driver, STAGES=ALL)
    assert "backup" not in driver.calls and not any(c.startswith("restore") for c in driver.calls)
    assert [(t.op, t.verdict, t.error) for t in six_op_rows(result)[3:5]] == [
        ("backup", "skip", "BACKUP_CAPABLE = False in recipe_meta.py"),
        ("restore", "skip", "BACKUP_CAPABLE = False in recipe_meta.py")]
    assert result.exit_code == 0
    assert result.ladder.level == 2  # a skip without EXPECTED_NA stops the climb


def test_backup_capable_true_without_the_labels_is_an_error_the_run_reports(tmp_path: Path, overlays: Path) -> None:
    _meta(overlays, "BACKUP_CAPABLE = True\n")
    driver = FakeDriver(backup_unsupported="no service has the deploy label backupbot.backup=true")
    result, _ = _run(tmp_path, overlays, driver, STAGES=ALL)
    backup = six_op_rows(result)[3]
    assert (backup.verdict, backup.error) == (
        "error", "BACKUP_CAPABLE = True in recipe_meta.py, but no service has the deploy label backupbot.backup=true")
    assert "backup" not in driver.calls and result.exit_code == 3


def test_backup_capable_none_decides_from_the_labels(tmp_path: Path, overlays: Path) -> None:
    driver = FakeDriver(backup_unsupported="no service has the deploy label backupbot.backup=true")
    result, _ = _run(tmp_path, overlays, driver, STAGES=ALL)
    assert [(t.verdict, t.error) for t in six_op_rows(result)[3:5]] == [
        ("skip", "no service has the deploy label backupbot.backup=true")] * 2
    assert result.exit_code == 0


def test_an_expected_na_stage_is_not_performed_and_is_climbed_with_its_reason(tmp_path: Path, overlays: Path) -> None:
    _meta(overlays, "EXPECTED_NA = {'backup': 'serves files baked into the image'}\n")
    driver = FakeDriver()
    out = io.StringIO()
    result, run = _run(tmp_path, overlays, driver, console=Console(file=out, width=200), STAGES=f"{ALL},lint")
    assert "backup" not in driver.calls and not any(c.startswith("restore") for c in driver.calls)
    assert [(t.verdict, t.error) for t in six_op_rows(result)[3:5]] == [
        ("skip", "expected n/a: serves files baked into the image")] * 2
    data = json.loads(run.run_dir.results.read_text())
    assert data["level"] == 5 and data["ladder_stop"] == "L5 (every rung)"
    assert data["ladder"][2] == {"level": 3, "name": "backup+restore", "state": "n/a", "climbed": True,
                                 "reason": "backup: serves files baked into the image; "
                                           "restore: serves files baked into the image"}
    assert "- ✅ L3 backup+restore: n/a (backup: serves files baked into the image;" in (
        run.run_dir.summary).read_text()
    assert ("ladder: L1 install pass ✓ · L2 upgrade pass ✓ · L3 backup+restore n/a ✓ · L4 custom pass ✓ · "
            "L5 lint pass ✓") in out.getvalue()


def test_the_level_and_the_first_rung_not_climbed_are_reported_everywhere(tmp_path: Path, overlays: Path) -> None:
    out = io.StringIO()
    result, run = _run(tmp_path, overlays, FakeDriver(), Tiers({"upgrade": "fail"}),
                       console=Console(file=out, width=200), STAGES=ALL)
    data = json.loads(run.run_dir.results.read_text())
    assert data["level"] == 1 and data["ladder_stop"] == "L1 (stopped at L2 upgrade: upgrade fail)"
    assert [(r["state"], r["climbed"]) for r in data["ladder"]] == [
        ("pass", True), ("fail", False), ("pass", False), ("pass", False), ("skip", False)]
    assert "**level L1** — stopped at L2 upgrade: upgrade fail" in run.run_dir.summary.read_text()
    assert "level: L1 (stopped at L2 upgrade: upgrade fail)" in out.getvalue()
    assert result.exit_code == 1


def test_a_meta_typo_in_cc_cis_own_file_exits_2_before_anything_is_deployed(tmp_path: Path, overlays: Path) -> None:
    _meta(overlays, "HEALTH_PATH = '/up'\nBACKUP_CAPABEL = False\n")
    driver = FakeDriver()
    with pytest.raises(BadInput) as err:
        _run(tmp_path, overlays, driver, STAGES=ALL)
    assert str(err.value) == (f"{overlays}/custom-html-tiny/recipe_meta.py:2: unknown setting 'BACKUP_CAPABEL' "
                              "(did you mean BACKUP_CAPABLE?)")  # cc-ci's own file, by its path
    assert driver.calls == [] and list((tmp_path / "runs").iterdir()) == []


def test_the_effective_settings_reach_the_assertion_files_through_meta_json(tmp_path: Path, overlays: Path) -> None:
    _meta(overlays, "HEALTH_PATH = '/health'\nSKIP_GENERIC = {'restore'}\n")
    result, run = _run(tmp_path, overlays, FakeDriver())
    written = json.loads(run.run_dir.meta_json.read_text())
    assert written == result.meta and written["HEALTH_PATH"] == "/health" and written["SKIP_GENERIC"] == ["restore"]
