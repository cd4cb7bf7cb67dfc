"""notes-tiny after restore: the note from before the backup is back, and the restore post-hook
loaded the restored dump (a pipe and a redirect, under a shell)."""

from __future__ import annotations

from typing import Any

from runner.run.opstate import OpState

DUMP = b"dump of 32-byte-password database\n"


def test_the_note_from_before_the_backup_is_back(exec_in: Any, op_state: OpState) -> None:
    backed_up = op_state["backup"].seed["note"]
    changed = op_state["restore"].seed["changed"]
    now = exec_in("db", ["cat", "/var/lib/db/notes/backup.txt"]).stdout
    assert now != changed, "the change made after the backup survived the restore"
    assert now == backed_up


def test_the_restore_post_hook_loaded_the_restored_dump(exec_in: Any) -> None:
    loaded = exec_in("db", ["cat", "/var/lib/db/loaded-dump-bytes"]).stdout.strip()
    assert loaded == str(len(DUMP))


def test_the_app_still_reaches_its_database(exec_in: Any) -> None:
    assert exec_in("app", ["db-reachable"], check=False).exit_code == 0
