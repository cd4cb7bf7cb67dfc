"""notes-sso after restore: the note from before the backup is back, the one added after it is
gone, and the app still signs its user in at the provider."""

from __future__ import annotations

import httpx

from runner.run.opstate import OpState


def _token(http: httpx.Client, sso: dict[str, str]) -> str:
    """Sign in as the realm's user; the session cookie, kept out of the shared client's jar."""
    answer = http.post("/cgi-bin/login", data={"username": sso["username"], "password": sso["password"]})
    http.cookies.clear()
    return answer.cookies["notes_session"]


def test_the_notes_are_the_backups(http: httpx.Client, deps: dict[str, dict[str, str]], op_state: OpState) -> None:
    sso = deps["sso-tiny"]
    token = _token(http, sso)
    notes = http.get("/cgi-bin/notes", headers={"Authorization": f"Bearer {token}"}).text.splitlines()
    assert op_state["backup"].seed["note"] in notes
    assert op_state["restore"].seed["changed"] not in notes, "the note added after the backup survived the restore"
