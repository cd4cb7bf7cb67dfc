"""`/catalogue` and `/catalogue.json`: the catalogue's matrix (recipe × its last N catalogue runs)
read from the catalogue's history (runner/catalogue/history.py), opened read-only.

The newest column reads as `cc-ci catalogue status` does (a result past the age limit is `stale`);
older columns as they were recorded. A missing history is not an error (no catalogue run yet); a
damaged one becomes one line on the page, never a failed page.
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from runner.catalogue.history import CatalogueRunInfo, History
from runner.catalogue.matrix import Row, as_of, flaky_recipes
from runner.dashboard.catalog import RunEntry
from runner.errors import InfraError

log = logging.getLogger("cc-ci.dashboard")

DEFAULT_COLUMNS = 10
MAX_COLUMNS = 50  # a request may ask for more columns, never an unbounded read
LOCK_WAIT_S = 2  # a catalogue run writing its row holds the file this long at most before the page gives up
HOW_TO_START = "cc-ci catalogue run FILE"

# the page's states
READ = "ok"
NO_HISTORY = "none"
UNREADABLE = "unreadable"


@dataclass(frozen=True)
class Cell:
    """One recipe's result in one catalogue run, as the page shows it."""

    level: int | None
    verdict: str
    change: str
    commit: str | None
    run_id: str | None
    run_url: str | None  # its run's page, when the run dir is known
    target: str | None
    retry_run_id: str | None
    retry_verdict: str | None
    first_bad: str | None
    first_bad_subject: str | None
    made: bool
    stale: bool
    regressed: bool
    error: str | None

    @property
    def css(self) -> str:
        """Its verdict's colour (flaky its own, never pass's), plus a mark for regressed or stale."""
        classes = ["cell", self.verdict.replace(" ", "-")]
        classes += [mark for mark, on in (("regressed", self.regressed), ("stale", self.stale),
                                          ("carried", not self.made)) if on]
        return " ".join(classes)


@dataclass(frozen=True)
class CatalogueView:
    state: str  # READ, NO_HISTORY or UNREADABLE
    columns: int
    runs: list[CatalogueRunInfo] = field(default_factory=list)  # newest first
    rows: list[tuple[str, list[Cell | None]]] = field(default_factory=list)  # recipe -> a cell per run
    flaky: list[str] = field(default_factory=list)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"state": self.state, "error": self.error, "columns": self.columns,
                "catalogue_runs": [asdict(run) for run in self.runs],
                "recipes": [{"recipe": recipe, "flaky": recipe in self.flaky,
                             "cells": [None if cell is None else asdict(cell) for cell in cells]}
                            for recipe, cells in self.rows],
                "flaky": self.flaky, "how_to_start": HOW_TO_START if self.state == NO_HISTORY else None}


def columns_param(raw: str | None) -> int | str:
    """`?runs=N`: the number of catalogue runs shown, or the one-line reason it is refused."""
    if raw is None:
        return DEFAULT_COLUMNS
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_COLUMNS:
        return f"runs must be a whole number from 1 to {MAX_COLUMNS}"
    return int(raw)


def read_view(path: Path, columns: int = DEFAULT_COLUMNS, now: float | None = None) -> CatalogueView:
    try:
        path.stat()
    except FileNotFoundError:
        return CatalogueView(NO_HISTORY, columns)
    except OSError as err:  # a folder on the way the viewer may not enter: unreadable, not "none yet"
        return _unreadable(path, columns, err)
    try:
        history = History(path, read_only=True, timeout=LOCK_WAIT_S)
    except InfraError as err:
        return _unreadable(path, columns, err)
    try:
        return _read(history, columns, time.time() if now is None else now)
    except (InfraError, sqlite3.Error, TypeError, ValueError) as err:  # a damaged file, or rows of the wrong types
        return _unreadable(path, columns, err)
    finally:
        history.close()


def _unreadable(path: Path, columns: int, err: Exception) -> CatalogueView:
    log.warning("catalogue history %s unreadable: %s", path, err)
    # the page names no server path: the log does
    why = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
    why = why.removeprefix(f"catalogue history {path}: ").split(";")[0]
    return CatalogueView(UNREADABLE, columns, error=f"the catalogue history could not be read: {why}")


def _read(history: History, columns: int, now: float) -> CatalogueView:
    runs = history.recent_runs(columns)
    if not runs:
        return CatalogueView(NO_HISTORY, columns)
    by_run: list[dict[str, Row]] = []
    for index, run in enumerate(runs):
        rows = history.matrix(run.id)
        if index == 0:  # the newest column reads as of now, as `cc-ci catalogue status` does
            rows = as_of(rows, now, run.stale_after_s)
        by_run.append({row.recipe: row for row in rows})
    recipes = sorted({name for column in by_run for name in column})
    return CatalogueView(READ, columns, runs=runs,
                         rows=[(name, [_cell(column.get(name)) for column in by_run]) for name in recipes],
                         flaky=flaky_recipes(history.recent_verdicts(recipes)))


def _cell(row: Row | None) -> Cell | None:
    if row is None:
        return None
    linked = row.run_id is not None and row.run_dir is not None
    return Cell(level=row.level, verdict=row.verdict, change=row.change, commit=row.commit, run_id=row.run_id,
                run_url=f"/runs/{quote(row.run_id or '', safe='')}" if linked else None, target=row.target,
                retry_run_id=row.retry_run_id, retry_verdict=row.retry_verdict, first_bad=row.first_bad,
                first_bad_subject=row.first_bad_subject, made=row.made, stale=row.change == "stale",
                regressed=row.regressed, error=row.error)


def latest_result(path: Path, recipe: str) -> RunEntry | None:
    """The recipe's latest catalogue result that a run was made for, as its badge shows it (the run
    dir may be elsewhere: another runs dir, a Drone runner); None without one, or when the history
    cannot be read or holds what no catalogue writes (the badge then follows the run dirs alone)."""
    if not os.path.isfile(path):
        return None
    try:
        history = History(path, read_only=True, timeout=LOCK_WAIT_S)
    except InfraError as err:
        log.warning("catalogue history %s unreadable: %s", path, err)
        return None
    try:
        row = history.previous(recipe, before=2**62)
    except (InfraError, sqlite3.Error, TypeError, ValueError) as err:
        log.warning("catalogue history %s unreadable: %s", path, err)
        return None
    finally:
        history.close()
    if row is None or not _badge_worthy(row):
        return None
    return RunEntry(run_id=row.retry_run_id or row.run_id or "", recipe=recipe, state="finished",
                    verdict=row.verdict, level=row.level, started_at=None, finished_at=float(row.finished),
                    duration_s=None, pr=None, ref=row.commit, run_dir=None, catalogue=recipe)


def _badge_worthy(row: Row) -> bool:
    finished_ok = isinstance(row.finished, float | int) and not isinstance(row.finished, bool) \
        and math.isfinite(row.finished) and 0 <= row.finished < 1e11
    level_ok = isinstance(row.level, int) and not isinstance(row.level, bool) and 0 <= row.level < 100
    return finished_ok and level_ok and isinstance(row.verdict, str) \
        and all(isinstance(name, str | None) for name in (row.run_id, row.retry_run_id, row.commit))
