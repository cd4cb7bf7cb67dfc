"""notes-tiny after backup: the hooks ran under a shell (a pipe, a redirect, a secret read with
`$(cat …)`), their dump is in the snapshot, the note written before is in it, and the folder the
`.path` label names but a fresh install has not created is reported missing."""

from __future__ import annotations

import hashlib
from typing import Any

from runner.run.opstate import BackedUpFile, OpState

# the pre-hook's dump: `$(cat /run/secrets/db_password | wc -c)` of a `# length=32` secret
DUMP = b"dump of 32-byte-password database\n"


def _taken(op_state: OpState, volume: str) -> dict[str, BackedUpFile]:
    snapshot = op_state["backup"].snapshot
    assert snapshot is not None
    return {f.path: f for f in snapshot.files if f.volume == volume}


def test_the_pre_hooks_dump_is_in_the_snapshot(op_state: OpState) -> None:
    dump = _taken(op_state, "data").get("dump.sql")
    assert dump is not None, "the backup pre-hook's dump is not in the snapshot"
    assert dump.sha256 == hashlib.sha256(DUMP).hexdigest(), "the dump is not what the hook's pipeline writes"


def test_the_post_hook_removed_the_dump(exec_in: Any) -> None:
    assert exec_in("db", ["test", "-e", "/var/lib/db/dump.sql"], check=False).exit_code == 1


def test_the_note_written_before_the_backup_is_in_the_snapshot(op_state: OpState) -> None:
    note = op_state["backup"].seed["note"]
    taken = _taken(op_state, "data")
    assert "notes/backup.txt" in taken, sorted(taken)
    assert taken["notes/backup.txt"].sha256 == hashlib.sha256(note.encode()).hexdigest()


def test_the_labelled_uploads_folder_a_fresh_install_lacks_is_reported_missing(op_state: OpState) -> None:
    snapshot = op_state["backup"].snapshot
    assert snapshot is not None
    assert "uploads:attachments" in snapshot.missing
    assert _taken(op_state, "uploads") == {}  # the label limits the volume to that folder
