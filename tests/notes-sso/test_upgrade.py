"""notes-sso after the upgrade: the app still checks tokens at its provider, and a note written
before the upgrade survives it."""

from __future__ import annotations

import httpx

from runner.run.opstate import OpState


def _token(http: httpx.Client, sso: dict[str, str]) -> str:
    """Sign in as the realm's user; the session cookie, kept out of the shared client's jar."""
    answer = http.post("/cgi-bin/login", data={"username": sso["username"], "password": sso["password"]})
    http.cookies.clear()
    return answer.cookies["notes_session"]


def test_a_note_written_before_the_upgrade_survives_it(http: httpx.Client, deps: dict[str, dict[str, str]],
                                                       op_state: OpState) -> None:
    sso = deps["sso-tiny"]
    assert http.get("/cgi-bin/notes").status_code == 401
    token = _token(http, sso)
    notes = http.get("/cgi-bin/notes", headers={"Authorization": f"Bearer {token}"})
    assert notes.status_code == 200
    assert op_state["upgrade"].seed["note"] in notes.text.splitlines()
