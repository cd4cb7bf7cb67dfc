"""A catalogue run end to end with a fake RunOne: rows, change words against the history, the
flaky retry, stale, the exit code, and the rows written to the history as recipes finish."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.catalogue.bisect import BisectResult
from runner.catalogue.file import Catalogue, TargetEntry
from runner.catalogue.history import History
from runner.catalogue.matrix import render
from runner.catalogue.model import CatalogueRecipe, RunOne, Say
from runner.catalogue.run import Options, Report, run_catalogue
from runner.catalogue.schedule import RunOn
from runner.errors import BadInput

from .fakes import Clock, FakeRuns, recipes

DAY = 86400.0


def catalogue(*names: str, targets: tuple[str, ...] = ("local",)) -> Catalogue:
    return Catalogue(path=Path("cat.yml"), recipes=recipes(*names),
                     targets=tuple(TargetEntry(target=t, limit=None) for t in targets), stale_after_s=7 * DAY)


def run(history: History, runs: FakeRuns, clock: Clock, *names: str, retry: bool = True) -> Report:
    return run_catalogue(catalogue(*names), history, Options(jobs=2, retry=retry), runs.run_on, runs.probe,
                         lambda _: None, clock)


def changes(report: Report) -> dict[str, tuple[str, int | None, str]]:
    return {row.recipe: (row.verdict, row.level, row.change) for row in report.rows}


def test_first_run_is_new_then_equal_then_a_drop_is_a_regression(tmp_path: Path) -> None:
    history, clock = History(tmp_path / "h.sqlite"), Clock()
    runs = FakeRuns(answers={"b": [(2, "pass", 0, "c1"), (2, "pass", 0, "c1"), (1, "fail", 1, "c2")]})
    first = run(history, runs, clock, "a", "b")
    assert changes(first) == {"a": ("pass", 1, "new"), "b": ("pass", 2, "new")}
    assert first.exit_code == 0
    clock.now += DAY
    assert changes(run(history, runs, clock, "a", "b")) == {"a": ("pass", 1, "="), "b": ("pass", 2, "=")}
    clock.now += DAY
    third = run(history, runs, clock, "a", "b")
    assert changes(third) == {"a": ("pass", 1, "="), "b": ("fail", 1, "regressed L2→L1")}
    assert third.exit_code == 1
    assert [row.change for row in history.matrix(third.catalogue_run)] == ["=", "regressed L2→L1"]
    assert [(r.level, r.commit) for _, r in history.recipe_history("b")] == [(1, "c2"), (2, "c1"), (2, "c1")]


def test_a_pass_on_retry_is_flaky_never_pass_and_both_runs_are_linked(tmp_path: Path) -> None:
    history, clock = History(tmp_path / "h.sqlite"), Clock()
    runs = FakeRuns(answers={"w": [(0, "error", 3, "c1"), (1, "pass", 0, "c1")]})
    report = run(history, runs, clock, "w")
    (row,) = report.rows
    assert (row.verdict, row.level, row.change) == ("flaky", 1, "flaky")
    assert (row.run_id, row.retry_run_id, row.retry_verdict) == ("w-1", "w-2", "pass")
    assert report.exit_code == 0
    assert history.matrix(report.catalogue_run) == [row]


def test_without_retry_a_failure_stays_a_failure(tmp_path: Path) -> None:
    history, clock = History(tmp_path / "h.sqlite"), Clock()
    runs = FakeRuns(answers={"w": [(0, "error", 3, "c1"), (1, "pass", 0, "c1")]})
    (row,) = run(history, runs, clock, "w", retry=False).rows
    assert (row.verdict, row.level, row.retry_run_id) == ("error", 0, None)


def test_flaky_on_three_of_the_last_ten_catalogue_runs_is_listed(tmp_path: Path) -> None:
    history, clock = History(tmp_path / "h.sqlite"), Clock()
    flake, steady = [(0, "error", 3, "c1"), (1, "pass", 0, "c1")], [(1, "pass", 0, "c1")]
    script = [flake, steady, flake, steady, flake]  # the retry's pass follows the failure in one catalogue run
    listed = []
    for answers in script:
        runs = FakeRuns(answers={"w": answers})
        listed.append(run(history, runs, clock, "w", "ok").flaky)
        clock.now += 60
    assert listed == [[], [], [], [], ["w"]]


def test_a_recipe_that_could_not_run_keeps_its_last_result_goes_stale_and_exits_3(tmp_path: Path) -> None:
    history, clock = History(tmp_path / "h.sqlite"), Clock()
    run(history, FakeRuns(), clock, "a")
    clock.now += 8 * DAY
    report = run(history, FakeRuns(down={"local"}), clock, "a")
    (row,) = report.rows
    assert (row.made, row.verdict, row.level, row.change, row.run_id) == (False, "pass", 1, "stale", "a-1")
    assert report.exit_code == 3
    clock.now += DAY  # and it counts as no result: the next one is compared with the last real one
    assert changes(run(history, FakeRuns(), clock, "a")) == {"a": ("pass", 1, "=")}


class FakeBisect:
    """Stands in for `runner.catalogue.bisect.bisect`: records its calls, answers a first bad commit."""

    def __init__(self, first_bad: str | None = "c2", fail: Exception | None = None) -> None:
        self.calls: list[tuple[str, str, str, str]] = []
        self.first_bad, self.fail = first_bad, fail

    def __call__(self, recipe: CatalogueRecipe, good: str, bad: str, stages: str, run: RunOne, say: Say) -> BisectResult:
        self.calls.append((recipe.name, good, bad, stages))
        if self.fail is not None:
            raise self.fail
        outcome = run(recipe, bad, stages)  # a step: one run on the target it was handed
        return BisectResult(self.first_bad, "break the install" if self.first_bad else "", [outcome],
                            why="the first commit that does not reach L2 upgrade")


def regress(history: History, clock: Clock, bisect: FakeBisect | None) -> Report:
    """b: L2 at c1, then L1 at c3 (a later commit); a: unchanged."""
    runs = FakeRuns(answers={"b": [(2, "pass", 0, "c1"), (1, "fail", 1, "c3")]})
    run(history, runs, clock, "a", "b")
    clock.now += DAY
    return run_catalogue(catalogue("a", "b"), history, Options(jobs=2, retry=False, bisect=bisect),
                         runs.run_on, runs.probe, lambda _: None, clock)


def test_a_regression_is_bisected_between_the_previous_commit_and_this_one(tmp_path: Path) -> None:
    history, clock, bisect = History(tmp_path / "h.sqlite"), Clock(), FakeBisect()
    report = regress(history, clock, bisect)
    assert bisect.calls == [("b", "c1", "c3", "install")]  # only the regressed recipe, with its stages
    b = report.rows[1]
    assert (b.change, b.first_bad, b.first_bad_subject) == ("regressed L2→L1", "c2", "break the install")
    assert b.bisect_why == "the first commit that does not reach L2 upgrade (runs: b-5)"  # the fifth run of the fake
    assert report.exit_code == 1
    assert history.matrix(report.catalogue_run)[1] == b  # the history names it too
    assert "b: first bad commit c2 break the install" in render(report.rows)


def test_no_bisect_leaves_a_regression_unbisected(tmp_path: Path) -> None:
    report = regress(History(tmp_path / "h.sqlite"), Clock(), None)
    assert (report.rows[1].change, report.rows[1].first_bad, report.rows[1].bisect_why) == ("regressed L2→L1", None, None)


def test_a_bisect_that_cannot_start_says_why_in_the_row(tmp_path: Path) -> None:
    bisect = FakeBisect(fail=BadInput("--good 'c1' is not an ancestor of --bad 'c3' in b"))
    report = regress(History(tmp_path / "h.sqlite"), Clock(), bisect)
    assert report.rows[1].bisect_why == "not bisected: --good 'c1' is not an ancestor of --bad 'c3' in b"
    assert report.exit_code == 1


def test_the_recipes_runs_are_made_marked_with_this_catalogue_runs_number(
        tmp_path: Path) -> None:
    history, clock = History(tmp_path / "h.sqlite"), Clock()
    history.finish(history.start("older.yml", 0.0, DAY), 1.0, 0)  # so that this catalogue run is #2
    runs = FakeRuns(answers={"a": [(1, "pass", 0, "c1")]})
    asked: list[int] = []

    def marked(number: int) -> RunOn:
        asked.append(number)
        return runs.run_on

    report = run_catalogue(catalogue("a"), history, Options(jobs=1), lambda _: pytest.fail("an unmarked run"),
                           runs.probe, lambda _: None, clock, marked_run_on=marked)
    assert (asked, report.catalogue_run, changes(report)) == ([2], 2, {"a": ("pass", 1, "new")})
