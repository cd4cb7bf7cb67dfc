"""notes-sso, functional: the API adds and lists the signed-in user's notes, and nothing without a
token."""

from __future__ import annotations

import secrets

import httpx


def _token(http: httpx.Client, sso: dict[str, str]) -> str:
    """Sign in as the realm's user; the session cookie, kept out of the shared client's jar."""
    answer = http.post("/cgi-bin/login", data={"username": sso["username"], "password": sso["password"]})
    http.cookies.clear()
    return answer.cookies["notes_session"]


def test_a_note_added_through_the_api_is_listed(http: httpx.Client, deps: dict[str, dict[str, str]]) -> None:
    sso = deps["sso-tiny"]
    token = _token(http, sso)
    bearer = {"Authorization": f"Bearer {token}"}
    note = f"custom-{secrets.token_hex(6)}"
    assert http.post("/cgi-bin/notes", data={"text": note}).status_code == 401
    assert http.post("/cgi-bin/notes", data={"text": note}, headers=bearer).status_code == 201
    assert note in http.get("/cgi-bin/notes", headers=bearer).text.splitlines()
