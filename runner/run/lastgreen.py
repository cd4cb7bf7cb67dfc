"""`UPGRADE_FROM=last-green`: the recipe's last commit that passed the catalogue, read from the
catalogue's history (runner/catalogue/history.py writes it; this is its one read-only query from
below, so that a run resolves the base before anything is deployed without importing the catalogue).

Only `pass` counts: a `flaky` row passed on its retry after failing, which is not a base to trust.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from runner.errors import BadInput
from runner.plumbing.paths import state_dir

LAST_GREEN = "last-green"  # the UPGRADE_FROM word
HISTORY_FILE = "catalogue.sqlite"


def default_history_path() -> Path:
    return state_dir() / HISTORY_FILE


@dataclass(frozen=True)
class LastGreen:
    commit: str
    catalogue_run: int
    level: int | None
    finished: float  # epoch seconds

    @property
    def reason(self) -> str:
        """results.json's `base_reason`."""
        return (f"UPGRADE_FROM=last-green: the last commit that passed the catalogue "
                f"(catalogue run {self.catalogue_run}, L{self.level if self.level is not None else '-'})")


def find_last_green(history: Path, recipe: str) -> LastGreen | None:
    """The recipe's newest catalogue row whose run was made and passed, with its commit; None when
    there is none (or no history at all)."""
    if not history.is_file():
        return None
    try:
        db = sqlite3.connect(f"file:{history}?mode=ro", uri=True, timeout=30)
        try:
            found = db.execute('SELECT "commit", catalogue_run, level, finished FROM results '
                               "WHERE recipe = ? AND verdict = 'pass' AND made AND \"commit\" IS NOT NULL "
                               "ORDER BY catalogue_run DESC LIMIT 1", (recipe,)).fetchone()
        finally:
            db.close()
    except sqlite3.Error as err:
        raise BadInput(f"UPGRADE_FROM=last-green: catalogue history {history}: {err}; check the file") from None
    return LastGreen(str(found[0]), int(found[1]), found[2], float(found[3] or 0.0)) if found else None


def resolve_last_green(history: Path, recipe: str) -> LastGreen:
    """The base `last-green` names, or BadInput (exit 2, nothing deployed) saying what is missing."""
    if not history.is_file():
        raise BadInput(f"UPGRADE_FROM=last-green: no catalogue history at {history}; run "
                       f"`cc-ci catalogue run FILE` with {recipe} first, or set CCCI_CATALOGUE_HISTORY")
    found = find_last_green(history, recipe)
    if found is None:
        raise BadInput(f"UPGRADE_FROM=last-green: {recipe} has never passed the catalogue in {history} "
                       "(flaky does not count); upgrade from `previous` until it has")
    return found
