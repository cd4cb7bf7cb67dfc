"""restore-fresh with a fake driver: a second app, at the PR head, given the original's secrets,
the snapshot restored into it; its tier looks at it; both apps are torn down and verified whatever
happens (the op failing, SIGINT), and a leftover of either is the run's error."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from runner.run.app import App, Deployment
from runner.run.rundir import APP_VAR, RunDir
from runner.tiers.tier import TierResult
from tests.unit.fake_driver import FakeDriver
from tests.unit.test_orchestrator import HEAD, Tiers, _run

STAGES = "install,backup,restore-fresh"


class SeenApps(Tiers):
    """Also records which app each tier's fixtures were pointed at (its app.json)."""

    def __init__(self) -> None:
        super().__init__()
        self.apps: dict[str, tuple[str | None, str]] = {}

    def __call__(self, op: str, files: list[Path], run_dir: RunDir, env: dict[str, str]) -> TierResult:
        app_json = run_dir.tier_app_json(env)
        self.apps[op] = (env.get(APP_VAR), json.loads(app_json.read_text())["stack"])
        return super().__call__(op, files, run_dir, env)


def _rows(result) -> dict[str, tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    return {t.op: (t.verdict, t.error) for t in result.tiers}


def test_a_second_app_at_the_head_gets_the_secrets_and_the_snapshot_then_both_go(tmp_path: Path,
                                                                                 overlays: Path) -> None:
    (overlays / "_generic" / "test_restore_fresh.py").write_text("")
    driver, tiers = FakeDriver(), SeenApps()
    result, run = _run(tmp_path, overlays, driver, tiers, STAGES=STAGES)
    assert driver.calls == ["new_app", f"deploy {HEAD}", "backup", "new_app fresh",
                            "share_secrets custom-html-tiny_test -> custom-html-tiny-fresh_test",
                            f"deploy {HEAD}", "restore 01234567", "teardown fresh", "teardown"]
    assert _rows(result)["restore-fresh"] == ("pass", None) and result.exit_code == 0
    assert result.apps == 2 and result.deploy_count == 1 and result.teardown_leftovers == []
    assert driver.target.beating == ["custom-html-tiny_test", "custom-html-tiny-fresh_test"]  # gc sees both live
    # the tier's fixtures look at the fresh app; the other tiers at the run's app
    assert tiers.apps["restore-fresh"] == ("fresh", "custom-html-tiny-fresh_test")
    assert tiers.apps["backup"] == (None, "custom-html-tiny_test")
    assert tiers.files["restore-fresh"] == ["_generic/test_restore.py", "_generic/test_restore_fresh.py",
                                            "custom-html-tiny/test_restore.py"]
    fresh = App.from_description(json.loads(run.run_dir.of_app("fresh").app_json.read_text()))
    assert (fresh.name, fresh.deploy_count, fresh.run_id) == ("fresh", 1, run.config.run_id)
    assert fresh.env_file == run.run_dir.of_app("fresh").app_env != run.run_dir.app_env
    assert [d["op"] for d in result.deployments] == ["install", "restore-fresh"]


def test_a_failing_restore_onto_the_fresh_app_is_its_error_and_both_apps_are_torn_down(tmp_path: Path,
                                                                                       overlays: Path) -> None:
    from runner.errors import InfraError
    driver = FakeDriver(fail={"restore 01234567": InfraError("restic exploded")})
    result, _ = _run(tmp_path, overlays, driver, STAGES=STAGES)
    assert driver.calls[-3:] == ["restore 01234567", "teardown fresh", "teardown"]
    assert _rows(result)["restore-fresh"] == ("error", "restic exploded") and result.exit_code == 3
    assert result.apps == 2


class InterruptedDuringTheFreshDeploy(FakeDriver):
    def deploy(self, app: App, ref: str) -> Deployment:
        deployed = super().deploy(app, ref)
        if app.name:
            os.kill(os.getpid(), signal.SIGINT)  # the orchestrator's handler raises Interrupted here
        return deployed


def test_sigint_while_the_fresh_app_deploys_tears_both_apps_down(tmp_path: Path, overlays: Path) -> None:
    driver = InterruptedDuringTheFreshDeploy()
    result, _ = _run(tmp_path, overlays, driver, STAGES=STAGES)
    assert driver.calls[-2:] == ["teardown fresh", "teardown"]
    assert "interrupted by SIGINT" in (result.error or "") and result.exit_code == 3
    assert driver.stacks == set()


class FreshAppLeavesAVolume(FakeDriver):
    def teardown(self, app: App) -> list[str]:
        super().teardown(app)
        return [f"volume {app.stack}_content"] if app.name else []


def test_a_leftover_of_the_fresh_app_is_the_runs_error(tmp_path: Path, overlays: Path) -> None:
    result, _ = _run(tmp_path, overlays, FreshAppLeavesAVolume(), STAGES=STAGES)
    assert result.teardown_leftovers == ["volume custom-html-tiny-fresh_test_content"]
    assert result.verdict == "error" and result.exit_code == 3


def test_the_fresh_app_has_a_domain_of_its_own_under_the_runs_labels() -> None:
    from runner.recipe import naming
    run_id = "20260101-000000-abcdef"
    assert naming.app_domain("recipe", run_id, "ci.test", "fresh") != naming.app_domain("recipe", run_id, "ci.test")
    assert naming.app_domain("recipe", run_id, "ci.test", "fresh").endswith(".ci.test")


class _Secrets:
    def __init__(self) -> None:
        self.made: dict[str, bytes] = {}

    def list(self, filters: dict[str, str]) -> list[object]:
        return []

    def create(self, name: str, data: bytes, labels: dict[str, str]) -> None:
        self.made[name] = data


class _SecretsTarget:
    name, address, host_id = "stub", "stub", "stub-host"

    def __init__(self) -> None:
        self.client = type("Client", (), {"secrets": _Secrets()})()


def test_the_swarm_driver_gives_the_fresh_app_the_original_apps_secret_values(tmp_path: Path) -> None:
    from runner.drivers.swarm.driver import SwarmDriver
    from runner.recipe.envfile import SecretSpec
    from runner.run.config import DriverSettings

    target = _SecretsTarget()
    driver = SwarmDriver(DriverSettings(), target)  # type: ignore[arg-type]
    spec = SecretSpec(name="admin_password", version="v1", length=24)
    original, fresh, other = (App(recipe="r", run_id="r1", domain=f"{n}.test", stack=f"{n}_test", checkout=tmp_path,
                                  run_dir=tmp_path, env={}, secrets=[spec], name=n) for n in ("", "fresh", "other"))
    driver._create_secrets(original)
    assert driver.share_secrets(original, fresh) == ["admin_password v1"]  # its version, as .env.sample names it
    driver._create_secrets(fresh)
    driver._create_secrets(other)  # not shared: generated anew
    made = target.client.secrets.made
    assert made["fresh_test_admin_password_v1"] == made["_test_admin_password_v1"]
    assert made["other_test_admin_password_v1"] != made["_test_admin_password_v1"]


def test_the_fresh_app_gets_extra_env_as_the_installed_app_did_before_its_deploy(tmp_path: Path,
                                                                                  overlays: Path) -> None:
    """A recipe that needs EXTRA_ENV (or DEPS_ENV: the same path) to start must get it on the
    second app too, or the fresh app never converges (seen with notes-sso's OIDC settings)."""
    (overlays / "custom-html-tiny" / "recipe_meta.py").write_text("EXTRA_ENV = {'GREETING': 'hello-fresh'}\n")
    result, run = _run(tmp_path, overlays, FakeDriver(), STAGES=STAGES)
    assert _rows(result)["restore-fresh"] == ("pass", None)
    assert 'GREETING="hello-fresh"' in run.run_dir.app_env.read_text()
    assert 'GREETING="hello-fresh"' in run.run_dir.of_app("fresh").app_env.read_text()
