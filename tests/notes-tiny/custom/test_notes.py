"""notes-tiny, functional: the login and the API token the PR head adds."""

from __future__ import annotations

from typing import Any

import httpx


def test_a_wrong_password_is_refused_and_the_right_one_accepted(http: httpx.Client, exec_in: Any) -> None:
    password = exec_in("app", ["cat", "/run/secrets/admin_password"]).stdout
    assert http.get("/", auth=("admin", password[::-1])).status_code == 401
    assert http.get("/", auth=("someone", password)).status_code == 401
    assert http.get("/", auth=("admin", password)).status_code == 200


def test_the_api_is_enabled_by_the_generated_token(http: httpx.Client, exec_in: Any) -> None:
    assert len(exec_in("app", ["cat", "/run/secrets/api_token"]).stdout) == 40
    password = exec_in("app", ["cat", "/run/secrets/admin_password"]).stdout
    assert http.get("/api.txt", auth=("admin", password)).text == "api enabled\n"
