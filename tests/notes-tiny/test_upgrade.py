"""notes-tiny after the upgrade to the PR head: the head's new secret is there, the database
kept its data."""

from __future__ import annotations

from typing import Any

import httpx

from runner.run.app import App
from runner.run.opstate import OpState


def test_the_heads_new_api_token_secret_is_generated_and_mounted(app: App, exec_in: Any, op_state: OpState) -> None:
    assert op_state["upgrade"].env_diff is not None
    assert "SECRET_API_TOKEN_VERSION" in op_state["upgrade"].env_diff.added
    assert "api_token" in {s.name for s in app.secrets}
    token = exec_in("app", ["cat", "/run/secrets/api_token"]).stdout
    assert len(token) == 40  # the head's `# length=40`


def test_the_upgraded_app_enabled_its_api(http: httpx.Client, exec_in: Any) -> None:
    password = exec_in("app", ["cat", "/run/secrets/admin_password"]).stdout
    assert http.get("/api.txt", auth=("admin", password)).text == "api enabled\n"


def test_a_note_written_before_the_upgrade_survives_it(exec_in: Any, op_state: OpState) -> None:
    note = op_state["upgrade"].seed["note"]
    assert exec_in("db", ["cat", "/var/lib/db/notes/upgrade.txt"]).stdout == note
