"""The orchestrator with a fake driver: op order, each op once, failure semantics, teardown."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from runner.errors import BadInput, ConvergenceError, InfraError
from runner.ops import LIFECYCLE
from runner.orchestrator import Run, TierRunner
from runner.recipe import git
from runner.recipe.repos import bundled_recipe_repo
from runner.record.results import RunResult
from runner.run.config import RunConfig
from runner.run.opstate import OpState
from runner.run.rundir import RunDir
from runner.run.runlock import run_is_alive
from runner.tiers.tier import TierResult, run_tier
from tests.unit.fake_driver import FakeDriver
from tests.unit.rows import six_op_rows

ALL = "install,upgrade,backup,restore,custom"
BASE = "1.0.0+1.0"  # the example's base release; a base is deployed by its tag
HEAD = git.rev_parse(bundled_recipe_repo("custom-html-tiny"), "HEAD")[:8]  # the example's PR head of the bundled example (its commits are the same on every machine)


class Tiers:
    """Stands in for pytest: records which files each tier was given, answers a verdict."""

    def __init__(self, verdicts: dict[str, str] | None = None) -> None:
        self.files: dict[str, list[str]] = {}
        self.verdicts = verdicts or {}

    def __call__(self, op: str, files: list[Path], run_dir: Path, env: dict[str, str]) -> TierResult:
        self.files[op] = [f"{f.parent.name}/{f.name}" for f in files]
        assert json.loads(RunDir.from_env(env).op_state.read_text())["ops"][op], "op state written first"  # type: ignore[union-attr]
        return TierResult(op, self.verdicts.get(op, "pass"))


def _run(tmp_path: Path, tests_dir: Path, driver: FakeDriver, tiers: TierRunner | None = None,
         console: Console | None = None, **env: str) -> tuple[RunResult, Run]:
    bundled_recipe_repo("custom-html-tiny")
    config = RunConfig.from_env({"RECIPE": "custom-html-tiny", "CCCI_RUNS_DIR": str(tmp_path / "runs"), **env}, LIFECYCLE)

    def factory(config: RunConfig, say: Callable[[str], None]) -> FakeDriver:
        driver.settings = config.driver_settings
        return driver
    run = Run(config, console=console or Console(file=open("/dev/null", "w")), driver_factory=factory,
              tests_dir=tests_dir, tier_runner=tiers or Tiers())
    return run.execute(), run


def _verdicts(result: RunResult) -> list[tuple[str, str]]:
    return [(t.op, t.verdict) for t in six_op_rows(result)]


def test_every_op_is_performed_once_in_lifecycle_order_then_teardown(tmp_path: Path, overlays: Path) -> None:
    driver, tiers = FakeDriver(), Tiers()
    result, run = _run(tmp_path, overlays, driver, tiers, STAGES="custom,restore,backup,upgrade,install")
    assert driver.calls == ["new_app", f"deploy {BASE}", f"upgrade {HEAD}", "backup",
                            "restore 01234567", "teardown"]
    assert _verdicts(result) == [("lint", "skip"), *((op, "pass") for op in ("install", "upgrade", "backup", "restore", "custom"))]
    assert result.exit_code == 0 and result.deploy_count == 1
    assert [d["op"] for d in result.deployments] == ["install", "upgrade"]
    assert tiers.files["install"] == ["_generic/test_install.py", "custom-html-tiny/test_install.py"]
    assert tiers.files["custom"] == ["custom/test_pages.py"]
    state = OpState.load(run.run_dir.op_state, LIFECYCLE.records)
    assert list(state.ops) == ["install", "upgrade", "backup", "restore", "custom"]
    assert state.base == "1.0.0+1.0" and "stepped back" in (state.base_reason or "")


def test_a_run_says_where_its_time_went_phase_by_phase(tmp_path: Path, overlays: Path) -> None:
    """results.json `phases_s` and `startup_s`: benchmarks/bench_run.py prints the harness's share
    of each, so that the next slowdown shows where it happens."""
    result, run = _run(tmp_path, overlays, FakeDriver(), STAGES="install,backup")
    data = json.loads(run.run_dir.results.read_text())
    assert set(data["phases_s"]) == {"clone", "check", "planning", "op", "tier", "teardown"}
    assert all(0 <= p["waits_s"] <= p["wall_s"] for p in data["phases_s"].values())
    assert sum(p["wall_s"] for p in data["phases_s"].values()) <= result.duration_s
    assert data["startup_s"] is not None and data["startup_s"] > 0


def test_without_upgrade_the_first_deploy_is_the_head(tmp_path: Path, overlays: Path) -> None:
    driver = FakeDriver()
    result, _ = _run(tmp_path, overlays, driver)
    assert driver.calls == ["new_app", f"deploy {HEAD}", f"deploy {HEAD}", "teardown"]  # the idempotence check redeploys it
    assert _verdicts(result)[2:] == [(op, "skip") for op in ("upgrade", "backup", "restore", "custom")]
    assert {t.error for t in six_op_rows(result)[2:]} == {"not in STAGES"}


def test_an_op_error_skips_the_later_tiers_tears_down_and_exits_3(tmp_path: Path, overlays: Path) -> None:
    driver = FakeDriver(fail={"backup": InfraError("restic exploded")})
    result, _ = _run(tmp_path, overlays, driver, STAGES=ALL)
    assert driver.calls[-2:] == ["backup", "teardown"]
    assert _verdicts(result) == [("lint", "skip"), ("install", "pass"), ("upgrade", "pass"), ("backup", "error"),
                                 ("restore", "skip"), ("custom", "skip")]
    assert [t.error for t in six_op_rows(result)[4:]] == ["after backup failed"] * 2
    assert six_op_rows(result)[3].error == "restic exploded" == result.error
    assert result.exit_code == 3 and result.teardown_leftovers == []


def test_a_failed_first_deploy_is_the_install_tiers_error(tmp_path: Path, overlays: Path) -> None:
    driver = FakeDriver(fail={f"deploy {HEAD}": ConvergenceError("service app did not converge")})
    result, _ = _run(tmp_path, overlays, driver)
    assert driver.calls == ["new_app", f"deploy {HEAD}", "teardown"]
    assert (six_op_rows(result)[1].verdict, six_op_rows(result)[1].error) == ("error", "service app did not converge")
    assert result.exit_code == 3


def test_an_assertion_failure_lets_the_later_ops_run_and_exits_1(tmp_path: Path, overlays: Path) -> None:
    driver = FakeDriver()
    result, _ = _run(tmp_path, overlays, driver, Tiers({"upgrade": "fail"}), STAGES=ALL)
    assert "backup" in driver.calls and "restore 01234567" in driver.calls
    assert _verdicts(result) == [("lint", "skip"), ("install", "pass"), ("upgrade", "fail"), ("backup", "pass"),
                                 ("restore", "pass"), ("custom", "pass")]
    assert result.exit_code == 1


def test_a_harness_bug_in_an_op_is_an_error_and_still_tears_down(tmp_path: Path, overlays: Path) -> None:
    driver = FakeDriver(fail={f"upgrade {HEAD}": KeyError("id")})
    result, run = _run(tmp_path, overlays, driver, STAGES=ALL)
    assert driver.calls[-1] == "teardown"
    assert six_op_rows(result)[2].verdict == "error" and result.exit_code == 3
    assert "KeyError" in run.run_dir.log("traceback").read_text()


def test_a_teardown_that_raises_is_never_reported_clean(tmp_path: Path, overlays: Path) -> None:
    result, _ = _run(tmp_path, overlays, FakeDriver(teardown_raises=True))
    assert result.teardown_leftovers and "unknown" in result.teardown_leftovers[0]
    assert result.error == "docker went away during teardown" and result.exit_code == 3


def test_what_teardown_left_is_named_with_the_gc_command_that_reclaims_it(tmp_path: Path, overlays: Path) -> None:
    driver = FakeDriver()
    driver.teardown = lambda app: [f"volume {app.stack}_content"]  # type: ignore[method-assign]
    out = io.StringIO()
    result, run = _run(tmp_path, overlays, driver, console=Console(file=out, width=400))
    command = f"CCCI_DOCKER_HOST=fake cc-ci gc --runs-dir {tmp_path / 'runs'}"
    assert result.teardown_leftovers == [f"volume {result.stack}_content"] and result.exit_code == 3
    assert result.reclaim == command
    assert f"teardown LEFT BEHIND: volume {result.stack}_content; to reclaim it once this run has ended: {command}" \
        in out.getvalue()
    assert f"reclaim with: {command}" in run.run_dir.summary.read_text()
    assert json.loads(run.run_dir.results.read_text())["reclaim"] == command


def _hooks(overlays: Path, body: str) -> None:
    (overlays / "custom-html-tiny" / "ops.py").write_text(body)


def test_a_hook_runs_right_before_its_op_and_its_seed_reaches_op_state(tmp_path: Path, overlays: Path) -> None:
    _hooks(overlays, "def pre_backup(ctx):\n"
                     "    ctx.exec_in('app', ['touch', '/srv/www/marker'])\n"
                     "    return {'marker': ctx.http.get('/').text, 'stack': ctx.stack,\n"
                     "            'upgraded': ctx.op_state['upgrade'].deployment.commit[:8]}\n")
    driver = FakeDriver()
    result, run = _run(tmp_path, overlays, driver, STAGES="backup,upgrade")
    assert driver.calls.index("exec app") == driver.calls.index("backup") - 1
    seed = OpState.load(run.run_dir.op_state, LIFECYCLE.records)["backup"].seed
    assert seed == {"marker": "ok", "stack": "custom-html-tiny_test", "upgraded": HEAD}
    assert result.exit_code == 0


def test_a_hook_that_raises_is_its_tiers_error_and_its_op_is_not_performed(tmp_path: Path, overlays: Path) -> None:
    _hooks(overlays, "def pre_upgrade(ctx):\n    raise RuntimeError('no marker written')\n")
    driver = FakeDriver()
    result, _ = _run(tmp_path, overlays, driver, STAGES=ALL)
    assert not any(call.startswith("upgrade") for call in driver.calls)
    assert driver.calls[-1] == "teardown"
    assert six_op_rows(result)[2].verdict == "error"
    ops_py = f"{overlays}/custom-html-tiny/ops.py"  # the maintainer's file (CCCI_OVERLAY_DIR), not the run's copy
    assert six_op_rows(result)[2].error == f"pre_upgrade hook failed: RuntimeError: no marker written ({ops_py}:2)"
    assert result.error_detail == [f"{ops_py}:2: pre_upgrade hook: RuntimeError: no marker written",
                                   "    raise RuntimeError('no marker written')"]
    assert [t.error for t in six_op_rows(result)[3:]] == ["after upgrade failed"] * 3
    assert result.exit_code == 3


def test_a_hook_for_an_unknown_op_is_bad_input_before_anything_is_deployed(tmp_path: Path, overlays: Path) -> None:
    _hooks(overlays, "def pre_deploy(ctx):\n    pass\n")
    driver = FakeDriver()
    with pytest.raises(Exception, match="pre_deploy is not a hook"):
        _run(tmp_path, overlays, driver)
    assert driver.calls == [] and list((tmp_path / "runs").iterdir()) == []


@pytest.mark.parametrize("optout", [{"CCCI_SKIP_GENERIC": "1"}, {"CCCI_SKIP_GENERIC_BACKUP": "1"}, "meta"])
def test_the_generic_opt_out_only_changes_which_files_are_collected(
    tmp_path: Path, overlays: Path, optout: dict[str, str] | str
) -> None:
    def one(where: Path, env: dict[str, str]) -> tuple[list[str], dict[str, object], Tiers, RunResult]:
        driver, tiers = FakeDriver(), Tiers()
        result, run = _run(where, overlays, driver, tiers, STAGES=ALL, **env)
        state = json.loads(run.run_dir.op_state.read_text())
        for record in state["ops"].values():
            record.pop("duration_s")
        state.pop("run_id")
        return driver.calls, state, tiers, result

    default_calls, default_state, default_tiers, _ = one(tmp_path / "a", {})
    if optout == "meta":
        (overlays / "custom-html-tiny" / "recipe_meta.py").write_text("SKIP_GENERIC = {'backup'}\n")
        env: dict[str, str] = {}
    else:
        env = dict(optout)  # type: ignore[arg-type]
    calls, state, tiers, result = one(tmp_path / "b", env)
    assert calls == default_calls and state == default_state
    assert "_generic/test_backup.py" in default_tiers.files["backup"]
    assert tiers.files["backup"] == ["custom-html-tiny/test_backup.py"]
    backup = next(t for t in result.tiers if t.op == "backup")
    assert backup.generic_skipped is True
    if optout != {"CCCI_SKIP_GENERIC": "1"}:
        assert "_generic/test_install.py" in tiers.files["install"]


@pytest.mark.usefixtures("forked_pytest")  # the verdicts, not the tier's process
def test_opting_out_of_the_generic_floor_without_an_overlay_is_empty_not_a_pass(tmp_path: Path, overlays: Path) -> None:
    for overlay in (overlays / "custom-html-tiny").glob("test_*.py"):
        overlay.unlink()
    result, _ = _run(tmp_path, overlays, FakeDriver(), run_tier, STAGES="install,upgrade,backup,restore",
                     CCCI_SKIP_GENERIC="1")
    assert _verdicts(result)[1:5] == [(op, "empty") for op in ("install", "upgrade", "backup", "restore")]
    assert {t.error for t in six_op_rows(result)[1:5]} == {"no assertion files to run"}
    assert (result.verdict, result.exit_code, result.ladder.level) == ("empty", 4, 0)
    assert result.ladder.text() == "L0 (stopped at L1 install: install empty — no assertion files to run)"


@pytest.mark.usefixtures("forked_pytest")  # the verdict, not the tier's process
def test_a_tier_whose_files_hold_no_tests_is_empty(tmp_path: Path, overlays: Path) -> None:
    # the fixture's assertion files are empty: pytest collects nothing from them
    result, _ = _run(tmp_path, overlays, FakeDriver(), run_tier)
    assert _verdicts(result)[1] == ("install", "empty") and result.exit_code == 4
    assert six_op_rows(result)[1].error == "the assertion files hold no tests"


def test_upgrade_skips_with_its_reason_when_the_recipe_has_no_older_release(
    tmp_path: Path, overlays: Path, make_recipe: Callable[..., Path]
) -> None:
    repo = make_recipe(tags=["1.0.0+1.0"], head_label="1.0.0+1.0")
    driver = FakeDriver()
    result, _ = _run(tmp_path, overlays, driver, RECIPE=str(repo), STAGES="upgrade")
    upgrade = six_op_rows(result)[2]
    assert (upgrade.verdict, upgrade.error) == ("skip", "the head is 1.0.0+1.0 plus unreleased commits and no older release exists to upgrade from")
    assert [c.split()[0] for c in driver.calls] == ["new_app", "deploy", "teardown"]
    assert result.exit_code == 0


def test_a_ref_without_env_sample_is_bad_input_before_anything_is_deployed(tmp_path: Path, overlays: Path) -> None:
    # the upgrade base, deployed first, was released without one; the head has it
    repo = tmp_path / "my-recipe"
    repo.mkdir()
    git.git(repo, "init", "-q", "-b", "main")
    for label, sample in (("1.0.0+1.0", None), ("1.1.0+1.1", "TYPE=my-recipe\nDOMAIN=x.example.com\n")):
        (repo / "compose.yml").write_text(f"version: '3.8'\nservices:\n  app:\n    image: x\n    deploy:\n"
                                          f"      labels: ['coop-cloud.${{STACK_NAME}}.version={label}']\n")
        if sample:
            (repo / ".env.sample").write_text(sample)
        git.git(repo, "add", "-A")
        git.git(repo, "commit", "-q", "-m", label)
    git.git(repo, "tag", "1.0.0+1.0", "HEAD~1")
    driver = FakeDriver()
    with pytest.raises(BadInput, match=r"my-recipe has no \.env\.sample at 1\.0\.0\+1\.0, the ref deployed first"):
        _run(tmp_path, overlays, driver, RECIPE=str(repo), STAGES="install,upgrade")
    assert driver.calls == [] and list((tmp_path / "runs").iterdir()) == []


def test_a_post_hook_runs_after_its_op_and_before_its_tier_and_its_seed_reaches_the_tier(
    tmp_path: Path, overlays: Path
) -> None:
    _hooks(overlays, "def post_install(ctx):\n"
                     "    ctx.exec_in('app', ['touch', '/srv/www/seeded'])\n"
                     "    return {'version': ctx.op_state['install'].deployment.version}\n")
    seen: dict[str, object] = {}

    class SeeingTiers(Tiers):
        def __call__(self, op: str, files: list[Path], run_dir: Path, env: dict[str, str]) -> TierResult:
            seen[op] = json.loads(RunDir.from_env(env).op_state.read_text())["ops"][op]["post_seed"]  # type: ignore[union-attr]
            return super().__call__(op, files, run_dir, env)

    driver = FakeDriver()
    result, _ = _run(tmp_path, overlays, driver, tiers=SeeingTiers(), STAGES="install")
    deployed = next(i for i, call in enumerate(driver.calls) if call.startswith("deploy"))
    assert driver.calls.index("exec app") > deployed
    assert seen == {"install": {"version": "1.0.0+1.0"}}
    assert result.exit_code == 0


def test_a_post_hook_that_raises_is_its_tiers_error_after_its_op_was_performed(tmp_path: Path, overlays: Path) -> None:
    _hooks(overlays, "def post_backup(ctx):\n    raise RuntimeError('no rows to seed')\n")
    driver = FakeDriver()
    result, _ = _run(tmp_path, overlays, driver, STAGES="backup,restore")
    assert "backup" in driver.calls and not any(call.startswith("restore") for call in driver.calls)
    backup = next(t for t in result.tiers if t.op == "backup")
    assert (backup.verdict, backup.error) == (
        "error", f"post_backup hook failed: RuntimeError: no rows to seed ({overlays}/custom-html-tiny/ops.py:2)")
    assert result.exit_code == 3


def test_a_misnamed_overlay_file_is_named_first_in_the_console_results_and_summary(
    tmp_path: Path, overlays: Path
) -> None:
    (overlays / "custom-html-tiny" / "test_instal.py").write_text("def test_never_run():\n    assert False\n")
    out = io.StringIO()
    result, run = _run(tmp_path, overlays, FakeDriver(), console=Console(file=out, width=300), STAGES="install")
    line = (f"{overlays}/custom-html-tiny/test_instal.py: no tier collects it and nothing reads it "
            "(did you mean test_install.py?)")
    assert result.notes["overlay"] == [line]
    assert f"overlay: {line}" in out.getvalue()
    summary = run.run_dir.summary.read_text()
    assert "test_instal.py" in summary and summary.index("test_instal.py") < summary.index("| tier |")


class _AliveAtEachLine(io.StringIO):
    """A console that notes, for each progress line the run prints, whether the run holds its lock."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.lines: list[tuple[str, bool]] = []

    def write(self, text: str) -> int:
        self.lines += [(line, run_is_alive(self.run_dir)) for line in text.splitlines() if re.match(r"\s*\d+\.\ds ", line)]
        return super().write(text)


def test_a_run_holds_its_lock_from_its_first_line_so_it_is_never_seen_lost_while_it_plans(
        tmp_path: Path, overlays: Path) -> None:
    console = _AliveAtEachLine(tmp_path / "runs" / "locked-early")
    result, _ = _run(tmp_path, overlays, FakeDriver(), console=Console(file=console), CCCI_RUN_ID="locked-early")
    assert result.exit_code == 0
    assert "cloning custom-html-tiny" in console.lines[0][0]  # planning: nothing deployed yet
    assert [line for line, alive in console.lines if not alive] == []
    assert run_is_alive(tmp_path / "runs" / "locked-early") is False  # released when the run ends
