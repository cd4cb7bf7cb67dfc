"""notes-sso after backup: the user's notes file, with the note written before the backup
(through the API, as this run's realm's user), is in the snapshot of the `data` volume as it is."""

from __future__ import annotations

import hashlib
from typing import Any

from runner.run.opstate import OpState


def test_the_note_written_before_the_backup_is_in_the_snapshot(exec_in: Any, deps: dict[str, dict[str, str]],
                                                               op_state: OpState) -> None:
    snapshot = op_state["backup"].snapshot
    assert snapshot is not None
    notes = f"{deps['sso-tiny']['username']}/notes.txt"
    now = exec_in("app", ["cat", f"/var/lib/notes/{notes}"]).stdout  # unchanged since the backup
    assert op_state["backup"].seed["note"] in now.splitlines()
    taken = {f.path: f.sha256 for f in snapshot.files if f.volume == "data"}
    assert taken.get(notes) == hashlib.sha256(now.encode()).hexdigest(), sorted(taken)
