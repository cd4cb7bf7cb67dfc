"""custom-html-tiny after install: the release's own page, and /admin behind the generated secret."""

from __future__ import annotations

from typing import Any

import httpx

from runner.run.app import Deployment
from runner.run.opstate import OpState


def test_the_page_is_the_deployed_releases(http: httpx.Client, deployment: Deployment) -> None:
    upstream = deployment.version.split("+", 1)[1]  # 1.1.0+1.1 -> 1.1, the image's version
    page = http.get("/").text
    assert f"<h1>custom-html-tiny {upstream}</h1>" in page


def test_admin_is_protected_by_the_generated_password(http: httpx.Client, exec_in: Any) -> None:
    password = exec_in("app", ["cat", "/run/secrets/admin_password"]).stdout
    assert len(password) == 24  # SECRET_ADMIN_PASSWORD_VERSION's `# length=24`
    assert http.get("/admin/").status_code == 401
    assert http.get("/admin/", auth=("admin", password)).status_code == 200


def test_the_app_serves_the_page_seeded_after_install(http: httpx.Client, op_state: OpState) -> None:
    marker = op_state["install"].post_seed["marker"]  # tests/custom-html-tiny/ops.py's post_install
    assert http.get("/install-marker.txt").text == marker
