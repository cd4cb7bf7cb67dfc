"""The catalogue's history: every catalogue run and each recipe's row in it, in one SQLite file in
the state dir (`<state dir>/catalogue.sqlite`). A row is written when its recipe is done, so an
interrupted catalogue run keeps what it finished.

Readers: runs with `UPGRADE_FROM=last-green` (runner/run/lastgreen.py, its one query from below),
the next catalogue run (each recipe's previous result, its recent verdicts for flaky),
`cc-ci catalogue status` (the latest matrix), `cc-ci catalogue history RECIPE` and the dashboard's
`/catalogue` (read-only).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from runner.catalogue.matrix import FLAKY_WINDOW, Row
from runner.errors import InfraError
from runner.run.lastgreen import default_history_path

_ROW_FIELDS = [f.name for f in fields(Row)]
_COLUMNS = ", ".join(f'"{name}"' for name in _ROW_FIELDS)  # quoted: `commit` is an SQL keyword
_TYPES = {"level": "INTEGER", "made": "INTEGER", "finished": "REAL"}  # the rest are TEXT
_SCHEMA = """
CREATE TABLE IF NOT EXISTS catalogue_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    file TEXT NOT NULL,
    started REAL NOT NULL,
    finished REAL,
    exit_code INTEGER,
    stale_after_s REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    catalogue_run INTEGER NOT NULL REFERENCES catalogue_runs(id),
    {},
    PRIMARY KEY (catalogue_run, recipe)
);
CREATE INDEX IF NOT EXISTS results_by_recipe ON results (recipe, catalogue_run);
""".format(", ".join(f'"{name}" {_TYPES.get(name, "TEXT")}' for name in _ROW_FIELDS))


def default_path() -> Path:
    return default_history_path()  # where runs read `UPGRADE_FROM=last-green` from (runner/run/lastgreen.py)


@dataclass(frozen=True)
class CatalogueRunInfo:
    id: int
    file: str
    started: float
    finished: float | None
    exit_code: int | None
    stale_after_s: float


class History:
    """The history file, opened for one command; each call is its own transaction.

    `read_only`: a reader that must never change the file (the dashboard): no folder or table is
    made, a missing file is an error, and a writer holding a lock is waited for `timeout` seconds only.
    """

    def __init__(self, path: Path, read_only: bool = False, timeout: float = 30) -> None:
        self.path = path
        try:
            if read_only:
                self._db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=timeout)
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=timeout)  # a second writer (another catalogue run) waits
            self._db.executescript(_SCHEMA)
            self._add_new_columns()
        except sqlite3.Error as err:
            raise InfraError(f"catalogue history {path}: {err}; check the file (or move it away to start afresh)") from None

    def _add_new_columns(self) -> None:
        """A history written before a row field existed gets its column (empty for the old rows)."""
        have = {info[1] for info in self._db.execute("PRAGMA table_info(results)")}
        with self._db:
            for name in (n for n in _ROW_FIELDS if n not in have):
                self._db.execute(f'ALTER TABLE results ADD COLUMN "{name}" {_TYPES.get(name, "TEXT")}')

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        try:
            with self._db:
                yield self._db
        except sqlite3.Error as err:
            raise InfraError(f"catalogue history {self.path}: {err}") from None

    def start(self, file: str, started: float, stale_after_s: float) -> int:
        with self._write() as db:
            cursor = db.execute("INSERT INTO catalogue_runs (file, started, stale_after_s) VALUES (?, ?, ?)",
                                (file, started, stale_after_s))
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    def record(self, catalogue_run: int, row: Row) -> None:
        values = asdict(row)
        with self._write() as db:
            db.execute(f"INSERT OR REPLACE INTO results (catalogue_run, {_COLUMNS}) "
                       f"VALUES (?, {', '.join('?' for _ in _ROW_FIELDS)})",
                       (catalogue_run, *(values[name] for name in _ROW_FIELDS)))

    def finish(self, catalogue_run: int, finished: float, exit_code: int) -> None:
        with self._write() as db:
            db.execute("UPDATE catalogue_runs SET finished = ?, exit_code = ? WHERE id = ?",
                       (finished, exit_code, catalogue_run))

    def previous(self, recipe: str, before: int) -> Row | None:
        """The recipe's latest result that a run was made for, from a catalogue run before `before`."""
        rows = self._rows("WHERE recipe = ? AND catalogue_run < ? AND level IS NOT NULL "
                          "ORDER BY catalogue_run DESC LIMIT 1", (recipe, before))
        return rows[0][1] if rows else None

    def recent_verdicts(self, recipes: list[str], limit: int = FLAKY_WINDOW) -> dict[str, list[str]]:
        """recipe -> its last `limit` verdicts, newest first."""
        return {name: [row.verdict for _, row in self._rows(
            "WHERE recipe = ? AND made ORDER BY catalogue_run DESC LIMIT ?", (name, limit))] for name in recipes}

    def latest_run(self) -> CatalogueRunInfo | None:
        found = self.recent_runs(1)
        return found[0] if found else None

    def recent_runs(self, limit: int) -> list[CatalogueRunInfo]:
        """The last `limit` catalogue runs, newest first."""
        try:
            found = self._db.execute("SELECT id, file, started, finished, exit_code, stale_after_s FROM catalogue_runs "
                                     "ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        except sqlite3.Error as err:
            raise InfraError(f"catalogue history {self.path}: {err}") from None
        return [CatalogueRunInfo(*values) for values in found]

    def matrix(self, catalogue_run: int) -> list[Row]:
        return [row for _, row in self._rows("WHERE catalogue_run = ? ORDER BY recipe", (catalogue_run,))]

    def recipe_history(self, recipe: str, limit: int = 50) -> list[tuple[int, Row]]:
        """(catalogue run, row) of the recipe, newest first."""
        return self._rows("WHERE recipe = ? ORDER BY catalogue_run DESC LIMIT ?", (recipe, limit))

    def _rows(self, where: str, params: tuple[object, ...]) -> list[tuple[int, Row]]:
        try:
            found = self._db.execute(f"SELECT catalogue_run, {_COLUMNS} FROM results {where}",
                                     params).fetchall()
        except sqlite3.Error as err:
            raise InfraError(f"catalogue history {self.path}: {err}") from None
        return [(values[0], _row(dict(zip(_ROW_FIELDS, values[1:], strict=True)))) for values in found]


def _row(values: dict[str, object]) -> Row:
    values["made"] = bool(values["made"])  # SQLite keeps a bool as 0/1
    return Row(**values)  # type: ignore[arg-type]
