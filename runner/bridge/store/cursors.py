"""Poll cursors: per enrolled repo, the forge time from which comments are listed next."""

from __future__ import annotations

from runner.bridge.store.db import Table


class CursorsTable(Table):
    def cursor(self, repo: str) -> str | None:
        with self._db.read() as db:
            row = db.execute(
                "SELECT since FROM cursors WHERE repo = ?", (repo.lower(),)
            ).fetchone()
        return row[0] if row else None

    def advance_cursor(self, repo: str, since: str) -> None:
        """Move the cursor to `since` unless it is already there or later (RFC 3339, UTC `Z`:
        the strings order as the times do)."""
        with self._db.tx() as db:
            db.execute(
                "INSERT INTO cursors(repo, since) VALUES (?, ?) ON CONFLICT(repo) DO UPDATE"
                " SET since = excluded.since WHERE excluded.since > cursors.since",
                (repo.lower(), since),
            )

    def set_cursor(self, repo: str, since: str) -> None:
        with self._db.tx() as db:
            db.execute(
                "INSERT INTO cursors(repo, since) VALUES (?, ?) ON CONFLICT(repo) DO UPDATE SET since = excluded.since",
                (repo.lower(), since),
            )
