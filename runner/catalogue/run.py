"""One catalogue run: every recipe of the file one ordinary run (spread over the targets by
`Schedule`), each row judged against the recipe's previous catalogue result and written to the
history as soon as its recipe is done; the matrix and the exit code at the end."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

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
from runner.catalogue.model import RunOutcome, Say
from runner.catalogue.schedule import Done, Probe, RunOn, Schedule


@dataclass(frozen=True)
class Options:
    jobs: int = 1
    targets: Sequence[TargetEntry] | None = None  # --target: in place of the file's
    retry: bool = True


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
                  say: Say, clock: Callable[[], float] = time.time) -> Report:
    catalogue_run = history.start(str(catalogue.path), clock(), catalogue.stale_after_s)
    rows: dict[str, Row] = {}

    def on_done(done: Done) -> None:  # called in this thread: the schedule's loop settles each run
        row = row_of(done, clock())
        previous = history.previous(row.recipe, catalogue_run)
        row = carry(replace(row, change=change_word(row, previous)), previous)
        history.record(catalogue_run, row)
        rows[row.recipe] = row
        say(f"{row.recipe}: {row.verdict} L{row.level if row.level is not None else '-'} {row.change}".rstrip())

    schedule = Schedule(targets=options.targets or catalogue.targets, jobs=options.jobs, run_on=run_on,
                        probe=probe, retry=options.retry, say=say)
    schedule.run(catalogue.recipes, on_done)
    ordered = as_of([rows[recipe.name] for recipe in catalogue.recipes], clock(), catalogue.stale_after_s)
    flaky = flaky_recipes(history.recent_verdicts([r.name for r in catalogue.recipes]))
    code = exit_code(ordered)
    history.finish(catalogue_run, clock(), code)
    return Report(catalogue_run, ordered, schedule.notes, flaky, code)

