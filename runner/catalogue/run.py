"""One catalogue run: every recipe of the file one ordinary run (spread over the targets by
`Schedule`), each row judged against the recipe's previous catalogue result and written to the
history as soon as its recipe is done; then each regression bisected to its first bad commit
(unless --no-bisect); the matrix and the exit code at the end."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from runner.catalogue.bisect import BisectResult
from runner.catalogue.file import Catalogue, TargetEntry
from runner.catalogue.history import History
from runner.catalogue.matrix import (
    NOT_RUN,
    Row,
    as_of,
    carry,
    change_word,
    exit_code,
    flaky_recipes,
)
from runner.catalogue.model import CatalogueRecipe, RunOne, RunOutcome, Say
from runner.catalogue.schedule import Done, Probe, RunOn, Schedule
from runner.errors import CcciError

# `runner.catalogue.bisect.bisect`, handed in so that tests can stand in for it
Bisect = Callable[[CatalogueRecipe, str, str, str, RunOne, Say], BisectResult]


@dataclass(frozen=True)
class Options:
    jobs: int = 1
    targets: Sequence[TargetEntry] | None = None  # --target: in place of the file's
    retry: bool = True
    bisect: Bisect | None = None  # None: --no-bisect


@dataclass(frozen=True)
class Report:
    catalogue_run: int
    rows: list[Row]
    notes: list[str]
    flaky: list[str]
    exit_code: int


def row_of(done: Done, finished: float) -> Row:
    """A recipe's row from its runs: the first; after a failure, the retry from scratch decides:
    a pass on retry is `flaky` (its level, both runs linked), a failure again stays the first's."""
    if not done.outcomes:
        return Row(recipe=done.recipe.name, commit=None, level=None, verdict=NOT_RUN, moved_from=done.moved_from,
                   error=done.error or "no target took it", finished=finished, made=False)
    first = done.outcomes[0]
    retry: RunOutcome | None = done.outcomes[1] if len(done.outcomes) > 1 else None
    shown = retry if retry is not None and retry.passed else first
    return Row(recipe=done.recipe.name, commit=shown.commit, level=shown.level,
               verdict="flaky" if shown is retry else first.verdict,
               run_id=first.run_id, run_dir=str(first.run_dir), target=shown.target, moved_from=done.moved_from,
               retry_run_id=retry.run_id if retry else None, retry_run_dir=str(retry.run_dir) if retry else None,
               retry_verdict=retry.verdict if retry else None,
               error=None if shown.passed else (first.error or done.error), finished=finished)


def run_catalogue(catalogue: Catalogue, history: History, options: Options, run_on: RunOn, probe: Probe,
                  say: Say, clock: Callable[[], float] = time.time,
                  marked_run_on: Callable[[int], RunOn] | None = None) -> Report:
    """`marked_run_on`: how the recipes' own runs are made, given this catalogue run's number to
    mark them with (the command's: the badge follows them); default `run_on`, as the bisect's runs,
    which are not marked, so that a bisect of an old commit never moves the badge."""
    catalogue_run = history.start(str(catalogue.path), clock(), catalogue.stale_after_s)
    rows: dict[str, Row] = {}

    def on_done(done: Done) -> None:  # called in this thread: the schedule's loop settles each run
        row = row_of(done, clock())
        previous = history.previous(row.recipe, catalogue_run)
        row = carry(replace(row, change=change_word(row, previous)), previous)
        history.record(catalogue_run, row)
        rows[row.recipe] = row
        say(f"{row.recipe}: {row.verdict} L{row.level if row.level is not None else '-'} {row.change}".rstrip())

    schedule = Schedule(targets=options.targets or catalogue.targets, jobs=options.jobs,
                        run_on=marked_run_on(catalogue_run) if marked_run_on else run_on,
                        probe=probe, retry=options.retry, say=say)
    schedule.run(catalogue.recipes, on_done)
    if options.bisect is not None:
        for recipe in catalogue.recipes:
            if rows[recipe.name].regressed and rows[recipe.name].made:
                target = _bisect_target(rows[recipe.name], schedule)
                row = _bisected(rows[recipe.name], history.previous(recipe.name, catalogue_run), recipe,
                                options.bisect, None if target is None else run_on(target), say)
                history.record(catalogue_run, row)
                rows[recipe.name] = row
    ordered = as_of([rows[recipe.name] for recipe in catalogue.recipes], clock(), catalogue.stale_after_s)
    flaky = flaky_recipes(history.recent_verdicts([r.name for r in catalogue.recipes]))
    code = exit_code(ordered)
    history.finish(catalogue_run, clock(), code)
    return Report(catalogue_run, ordered, schedule.notes, flaky, code)



def _bisect_target(row: Row, schedule: Schedule) -> str | None:
    """Where a regression is bisected: where it regressed, unless that target went down since."""
    up = schedule.up()
    return row.target if row.target in up else next(iter(up), None)


def _bisected(row: Row, previous: Row | None, recipe: CatalogueRecipe, bisect: Bisect, run: RunOne | None,
              say: Say) -> Row:
    """The regressed row with its first bad commit, or why there is none: between the previous
    result's commit (good) and this one (bad), with the catalogue's stages."""
    if run is None:
        return replace(row, bisect_why="not bisected: no target left up")
    if previous is None or previous.commit is None or row.commit is None:
        return replace(row, bisect_why="not bisected: a commit of the two results is not known")
    say(f"{recipe.name}: {row.change}: bisecting {previous.commit[:12]}..{row.commit[:12]}")
    try:
        found = bisect(recipe, previous.commit, row.commit, recipe.stages, run, say)
    except CcciError as err:  # e.g. the good commit is no longer an ancestor (a force-push)
        return replace(row, bisect_why=f"not bisected: {err}")
    runs = ", ".join(outcome.run_id for outcome in found.runs)
    why = f"{found.why} (runs: {runs})" if runs else found.why
    return replace(row, first_bad=found.first_bad, first_bad_subject=found.subject or None, bisect_why=why)
