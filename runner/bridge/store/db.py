"""The bridge's SQLite database: one connection, its schema (and the columns added to it since
the first release), and the one transaction helper every write goes through.

One connection guarded by a lock: the bridge is one process and SQLite serialises writes anyway.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    delivery_key TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    received_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    outcome TEXT,
    decided_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try_at REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS inbox_pending ON inbox(state, next_try_at);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    base_run_id TEXT NOT NULL UNIQUE,
    run_id TEXT NOT NULL UNIQUE,
    repo TEXT NOT NULL,
    recipe TEXT NOT NULL,
    pr INTEGER NOT NULL,
    head_sha TEXT NOT NULL,
    stages TEXT NOT NULL,
    coalesce_key TEXT NOT NULL,
    delivery_key TEXT NOT NULL UNIQUE,
    requested_by TEXT NOT NULL,
    state TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 1,
    verdict TEXT,
    summary TEXT,
    external_id TEXT,
    follow_url TEXT,
    report_comment_id INTEGER,
    reported INTEGER NOT NULL DEFAULT 0,
    received_at REAL NOT NULL,
    queued_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    detail TEXT,
    head_repo TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, id);
CREATE INDEX IF NOT EXISTS jobs_coalesce ON jobs(coalesce_key, state);
CREATE TABLE IF NOT EXISTS cursors (repo TEXT PRIMARY KEY, since TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    repo TEXT NOT NULL,
    number INTEGER NOT NULL,
    job_id INTEGER,
    marker TEXT,
    body TEXT,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try_at REAL NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    sent_at REAL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(state, next_try_at);
CREATE TABLE IF NOT EXISTS schedule (name TEXT PRIMARY KEY, last_day TEXT NOT NULL);
"""

# Columns added after the first release: (name, SQL type); added to an older database on open.
ADDED_COLUMNS = {"jobs": (("detail", "TEXT"), ("head_repo", "TEXT"))}


class Database:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=30
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        # A state dir written by an older bridge lacks these columns; CREATE IF NOT EXISTS kept it.
        for table, columns in ADDED_COLUMNS.items():
            have = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            for name, kind in columns:
                if name not in have:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken before anything is read (`BEGIN IMMEDIATE`): committed
        when the block ends, rolled back when it raises."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """The connection for reads, held alone for the block (no other thread's write between
        two of its statements)."""
        with self._lock:
            yield self._db


class Table:
    """One table's queries over the shared database; Store combines them."""

    def __init__(self, db: Database) -> None:
        self._db = db
