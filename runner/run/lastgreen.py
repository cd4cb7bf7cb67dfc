"""`UPGRADE_FROM=last-green`: the recipe's last commit that passed the catalogue, read from the
catalogue's history (runner/catalogue/history.py writes it; these are its read-only queries from
below, so that a run resolves the base before anything is deployed without importing the catalogue).
And the mark of a catalogue run (`CCCI_CATALOGUE=<recipe>@<catalogue run>`), checked against the
same history: only a catalogue run in progress there can have issued it.

Only `pass` counts: a `flaky` row passed on its retry after failing, which is not a base to trust.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from runner.errors import BadInput
from runner.plumbing.paths import state_dir

LAST_GREEN = "last-green"  # the UPGRADE_FROM word
HISTORY_FILE = "catalogue.sqlite"
MARK_VAR = "CCCI_CATALOGUE"
_MARK = re.compile(r"^([a-z0-9][a-z0-9-]*)@([1-9][0-9]{0,17})$")


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


def catalogue_mark(recipe: str, catalogue_run: int) -> str:
    """What `cc-ci catalogue run` sets CCCI_CATALOGUE to for the recipe's own runs."""
    return f"{recipe}@{catalogue_run}"


def check_catalogue_mark(value: str, history: Path) -> str:
    """The recipe's name in the catalogue, when `value` is a mark a catalogue run in progress in
    `history` issued; else BadInput: a CCCI_CATALOGUE left in an operator's shell must not make a
    hand run a catalogue run (the badge follows those)."""
    told = (f"{MARK_VAR}={value!r} is set only by `cc-ci catalogue run` for its own runs; "
            f"unset {MARK_VAR} for a run by hand")
    found = _MARK.match(value.strip())
    if found is None:
        raise BadInput(f"{told} (it is not <recipe>@<catalogue run>)")
    number = int(found.group(2))
    if not history.is_file():
        raise BadInput(f"{told} (no catalogue history at {history})")
    try:
        db = sqlite3.connect(f"file:{history}?mode=ro", uri=True, timeout=30)
        try:
            row = db.execute("SELECT finished FROM catalogue_runs WHERE id = ?", (number,)).fetchone()
        finally:
            db.close()
    except sqlite3.Error as err:
        raise BadInput(f"{MARK_VAR}: catalogue history {history}: {err}; check the file") from None
    if row is None or row[0] is not None:
        raise BadInput(f"{told} (catalogue run {number} is not in progress in {history})")
    return found.group(1)
