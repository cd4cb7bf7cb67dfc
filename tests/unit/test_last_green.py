"""UPGRADE_FROM=last-green: the recipe's newest catalogue row that passed (flaky does not count),
resolved before anything is deployed; the catalogue's own runs upgrade from it; and the badge
follows catalogue runs as well as default-branch runs."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from runner.catalogue.history import History
from runner.catalogue.matrix import NOT_RUN, Row
from runner.catalogue.model import CatalogueRecipe
from runner.catalogue.process import run_env
from runner.dashboard.badge import badge_entry
from runner.dashboard.catalog import RunEntry
from runner.errors import EXIT_BAD_INPUT, BadInput
from runner.ops import LIFECYCLE
from runner.orchestrator import Run
from runner.recipe import git
from runner.record.results import RunResult
from runner.run.config import RunConfig
from runner.run.lastgreen import find_last_green, resolve_last_green
from runner.run_recipe_ci import run_from_env
from tests.unit.fake_driver import FakeDriver
from tests.unit.test_orchestrator import Tiers

A, B, C, D = ("a" * 40, "b" * 40, "c" * 40, "d" * 40)


def _history(path: Path, rows: list[list[Row]]) -> Path:
    """One catalogue run per list of rows, oldest first."""
    history = History(path)
    for number, runs in enumerate(rows):
        run = history.start("cat.yml", float(number), 86400.0)
        for row in runs:
            history.record(run, row)
        history.finish(run, float(number), 0)
    history.close()
    return path


def test_no_history_is_bad_input_naming_the_file_and_what_to_do(tmp_path: Path) -> None:
    missing = tmp_path / "none.sqlite"
    with pytest.raises(BadInput, match=r"UPGRADE_FROM=last-green: no catalogue history at .*none\.sqlite; run "
                       r"`cc-ci catalogue run FILE` with demo first") as raised:
        resolve_last_green(missing, "demo")
    assert raised.value.exit_code == EXIT_BAD_INPUT and find_last_green(missing, "demo") is None


def test_no_green_row_is_bad_input_and_flaky_or_a_carried_row_does_not_count(tmp_path: Path) -> None:
    path = _history(tmp_path / "h.sqlite", [
        [Row("demo", A, 1, "fail"), Row("other", B, 3, "pass")],
        [Row("demo", C, 3, "flaky")],
        [Row("demo", None, None, NOT_RUN, made=False)],
        [Row("demo", B, 3, "pass", made=False)],  # a run not made carries an older result: not a green of its own
    ])
    with pytest.raises(BadInput, match=r"demo has never passed the catalogue in .*h\.sqlite \(flaky does not "
                       r"count\); upgrade from `previous` until it has"):
        resolve_last_green(path, "demo")


def test_the_newest_pass_is_chosen_over_older_passes_and_a_newer_flaky_or_fail(tmp_path: Path) -> None:
    path = _history(tmp_path / "h.sqlite", [
        [Row("demo", A, 2, "pass")],
        [Row("demo", B, 3, "pass"), Row("other", D, 4, "pass")],
        [Row("demo", C, 3, "flaky")],
        [Row("demo", D, 1, "fail")],
    ])
    found = resolve_last_green(path, "demo")
    assert (found.commit, found.catalogue_run, found.level) == (B, 2, 3)
    assert found.reason == "UPGRADE_FROM=last-green: the last commit that passed the catalogue (catalogue run 2, L3)"


def test_a_run_asking_for_last_green_without_one_exits_2_before_anything_exists(tmp_path: Path,
                                                                                 capsys: pytest.CaptureFixture[str],
                                                                                 make_recipe: Callable[..., Path]) -> None:
    repo = make_recipe(tags=["1.0.0+1.0"], head_label="1.1.0+1.1")
    code = run_from_env({"RECIPE": str(repo), "STAGES": "upgrade", "UPGRADE_FROM": "last-green",
                         "CCCI_RUNS_DIR": str(tmp_path / "runs"),
                         "CCCI_CATALOGUE_HISTORY": str(tmp_path / "none.sqlite")})
    assert code == EXIT_BAD_INPUT and not (tmp_path / "runs").exists()
    assert "cc-ci: error: UPGRADE_FROM=last-green: no catalogue history at" in capsys.readouterr().err


def test_the_upgrade_installs_the_last_green_commit_and_records_why(tmp_path: Path, overlays: Path,
                                                                   make_recipe: Callable[..., Path]) -> None:
    repo = make_recipe(tags=["1.0.0+1.0", "1.1.0+1.1"], head_label="1.2.0+1.2")
    green = git.rev_parse(repo, "1.0.0+1.0")  # not the base `previous` would choose (1.1.0+1.1)
    path = _history(tmp_path / "h.sqlite", [[Row(repo.name, green, 2, "pass")], [Row(repo.name, A, 1, "flaky")]])
    config = RunConfig.from_env({"RECIPE": str(repo), "CCCI_RUNS_DIR": str(tmp_path / "runs"), "STAGES": "upgrade",
                                 "UPGRADE_FROM": "last-green", "CCCI_CATALOGUE_HISTORY": str(path)}, LIFECYCLE)
    driver = FakeDriver()

    def factory(config: RunConfig, say: Callable[[str], None]) -> FakeDriver:
        driver.settings = config.driver_settings
        return driver
    result: RunResult = Run(config, console=Console(file=io.StringIO()), driver_factory=factory, tests_dir=overlays,
                            tier_runner=Tiers()).execute()
    head = git.rev_parse(repo, "HEAD")
    assert [c for c in driver.calls if c.startswith(("deploy", "upgrade"))] == [f"deploy {green[:8]}", f"upgrade {head[:8]}"]
    assert result.base == green
    assert result.base_reason == "UPGRADE_FROM=last-green: the last commit that passed the catalogue (catalogue run 1, L2)"


def test_the_catalogues_runs_upgrade_from_last_green_when_they_upgrade_and_one_exists(tmp_path: Path) -> None:
    path = _history(tmp_path / "h.sqlite", [[Row("demo", A, 2, "pass"), Row("never", B, 1, "fail")]])
    caller = {"PATH": "/bin", "UPGRADE_FROM": "all", "CCCI_CATALOGUE": "x"}

    def env(name: str, stages: str, mark: int | None = 7) -> dict[str, str]:
        return run_env(CatalogueRecipe(name=name, stages=stages), "", stages, "local", "r1", tmp_path, caller,
                       history=path, mark=mark)
    upgrading = env("demo", "install,upgrade")
    assert (upgrading["UPGRADE_FROM"], upgrading["CCCI_CATALOGUE"], upgrading["CCCI_CATALOGUE_HISTORY"]) == \
        ("last-green", "demo@7", str(path))  # the recipe and the number of the catalogue run that made it
    assert "UPGRADE_FROM" not in env("demo", "install")  # no upgrade: nothing to start from
    assert "UPGRADE_FROM" not in env("never", "install,upgrade")  # no green yet: `previous`, as any run
    assert "CCCI_CATALOGUE" not in env("demo", "install,upgrade", mark=None)  # a bisect's run: not the badge's
    # without the catalogue's history (`cc-ci bisect`), neither, and none of the caller's either
    assert not {"UPGRADE_FROM", "CCCI_CATALOGUE", "CCCI_CATALOGUE_HISTORY"} & set(
        run_env(CatalogueRecipe(name="demo"), "", "install,upgrade", "local", "r1", tmp_path, caller))


def _marked(tmp_path: Path, mark: str, history: Path | None = None) -> RunConfig:
    return RunConfig.from_env({"RECIPE": "custom-html-tiny", "CCCI_CATALOGUE": mark, "CCCI_RUNS_DIR": str(tmp_path),
                               "CCCI_CATALOGUE_HISTORY": str(history or tmp_path / "none.sqlite")}, LIFECYCLE)


def test_a_stray_ccci_catalogue_in_an_operators_shell_refuses_the_hand_run_instead_of_marking_it(
        tmp_path: Path) -> None:
    told = (r"^CCCI_CATALOGUE='{}' is set only by `cc-ci catalogue run` for its own runs; "
            r"unset CCCI_CATALOGUE for a run by hand \({}\)$")
    with pytest.raises(BadInput, match=told.format("custom-html-tiny", r"it is not <recipe>@<catalogue run>")) as raised:
        _marked(tmp_path, "custom-html-tiny")
    assert raised.value.exit_code == EXIT_BAD_INPUT
    with pytest.raises(BadInput, match=told.format("custom-html-tiny@1", r"no catalogue history at .*none\.sqlite")):
        _marked(tmp_path, "custom-html-tiny@1")
    finished = _history(tmp_path / "h.sqlite", [[Row("custom-html-tiny", A, 1, "pass")]])  # catalogue run 1, ended
    for number in (1, 2):  # ended, never issued
        with pytest.raises(BadInput, match=told.format(f"custom-html-tiny@{number}",
                                                       rf"catalogue run {number} is not in progress in .*h\.sqlite")):
            _marked(tmp_path, f"custom-html-tiny@{number}", finished)


def test_the_mark_of_a_catalogue_run_in_progress_names_the_recipe_its_results_record(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite")
    number = history.start("cat.yml", 0.0, 86400.0)
    assert _marked(tmp_path, f"my-name@{number}", history.path).catalogue == "my-name"
    history.finish(number, 1.0, 0)
    with pytest.raises(BadInput, match="is not in progress"):  # the same mark once its catalogue run ended
        _marked(tmp_path, f"my-name@{number}", history.path)
    history.close()


def _entry(run_id: str, pr: int | None, ref: str | None, catalogue: str | None, verdict: str = "pass") -> RunEntry:
    return RunEntry(run_id, "demo", "finished", verdict, 2, None, None, None, pr, ref, None, catalogue=catalogue)


def test_the_badge_follows_default_branch_and_catalogue_runs_only() -> None:
    branch = _entry("r1", None, "my-branch", None, "fail")  # a run of a local branch: not the recipe's
    pr = _entry("r2", 7, "abc", None, "fail")
    catalogue = _entry("r3", None, A, "demo")  # the catalogue tests its ref at a commit
    default = _entry("r4", None, None, None, "error")
    assert badge_entry([branch, pr, catalogue, default], "demo") is catalogue
    assert badge_entry([branch, pr, default], "demo") is default
    assert badge_entry([branch, pr], "demo") is None
