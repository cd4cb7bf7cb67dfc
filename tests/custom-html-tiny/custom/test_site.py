"""custom-html-tiny, functional: what the PR head's feature and the recipe's options promise."""

from __future__ import annotations

import httpx

from runner.run.opstate import OpState


def test_stylesheets_are_served_as_text_css(http: httpx.Client, op_state: OpState) -> None:
    response = http.get("/" + op_state["custom"].seed["stylesheet"])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")


def test_admin_stays_behind_the_generated_password_after_every_op(http: httpx.Client, exec_in: object) -> None:
    password = exec_in("app", ["cat", "/run/secrets/admin_password"]).stdout  # type: ignore[operator]
    assert http.get("/admin/").status_code == 401
    assert http.get("/admin/", auth=("admin", password)).status_code == 200
