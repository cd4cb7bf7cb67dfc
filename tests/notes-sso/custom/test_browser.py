"""notes-sso in a browser: a visitor is shown the login form, signs in as this run's realm's user
(checked by sso-tiny), and sees their notes page."""

from __future__ import annotations

from typing import Any


def test_a_visitor_signs_in_and_sees_their_notes(page: Any, deps: dict[str, dict[str, str]]) -> None:
    sso = deps["sso-tiny"]
    answer = page.goto("/")
    assert answer.status == 401
    page.fill("input[name=username]", sso["username"])
    page.fill("input[name=password]", sso["password"][::-1])
    page.click("button[type=submit]")
    assert page.locator(".error").inner_text() == "Wrong username or password."
    page.fill("input[name=username]", sso["username"])
    page.fill("input[name=password]", sso["password"])
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    assert page.locator("#user").inner_text() == f"Signed in as {sso['username']}"
    assert page.locator("h1").inner_text().startswith("notes-sso ")
