"""notes-sso after install: it refuses every request without a valid token, signs in the user of
this run's realm at sso-tiny (provided by the harness: the `deps` fixture), and was started
already configured with that realm."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from runner.run.app import App, Deployment


def _sign_in(http: httpx.Client, sso: dict[str, str]) -> httpx.Response:
    """The login form's post; its cookie is kept out of the session's shared client."""
    answer = http.post("/cgi-bin/login", data={"username": sso["username"], "password": sso["password"]})
    http.cookies.clear()
    return answer


def test_every_page_refuses_a_request_without_a_valid_token(http: httpx.Client) -> None:
    front = http.get("/")
    assert front.status_code == 401 and '<form method="post" action="/cgi-bin/login">' in front.text
    assert http.get("/cgi-bin/notes").status_code == 401
    assert http.get("/cgi-bin/notes", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    assert http.get("/", headers={"Cookie": "notes_session=not-a-token"}).status_code == 401


def test_the_user_of_this_runs_realm_signs_in(http: httpx.Client, deps: dict[str, dict[str, str]],
                                              deployment: Deployment) -> None:
    sso = deps["sso-tiny"]
    assert _sign_in(http, {**sso, "password": sso["password"][::-1]}).status_code == 401
    signed_in = _sign_in(http, sso)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/"
    token = signed_in.cookies["notes_session"]
    page = http.get("/", headers={"Cookie": f"notes_session={token}"})
    assert page.status_code == 200
    assert f'<p id="user">Signed in as {sso["username"]}</p>' in page.text
    upstream = deployment.version.split("+", 1)[1]  # 1.1.0+1.1 -> 1.1, the image's version
    assert f"<h1>notes-sso {upstream}</h1>" in page.text


def test_the_app_started_configured_with_this_runs_realm(exec_in: Any, deps: dict[str, dict[str, str]],
                                                         app: App) -> None:
    sso = deps["sso-tiny"]
    env = dict(line.split("=", 1) for line in exec_in("app", ["env"]).stdout.splitlines() if "=" in line)
    assert env["OIDC_ISSUER"] == sso["issuer"] and env["OIDC_CLIENT_ID"] == sso["client_id"]
    realm = sso["issuer"].rsplit("/realms/", 1)[1]
    assert realm == f"run-{app.run_id}"  # this run's own realm, made by sso-tiny's provision
    # the endpoints it read from the realm's discovery document at start
    assert f"/cgi-bin/userinfo/{realm}'" in exec_in("app", ["cat", "/tmp/oidc.env"]).stdout


@pytest.mark.requires_deps("sso-tiny")
def test_a_token_the_provider_issued_opens_the_api(http: httpx.Client, exec_in: Any,
                                                   deps: dict[str, dict[str, str]]) -> None:
    """A token asked of sso-tiny directly (from inside the app's container, over the overlay
    network the app reaches it by) is accepted: the app checks it at the provider's userinfo."""
    sso = deps["sso-tiny"]
    grant = (f"grant_type=password&username={sso['username']}&password={sso['password']}"
             f"&client_id={sso['client_id']}&client_secret={sso['client_secret']}")
    base, realm = sso["issuer"].rsplit("/realms/", 1)
    token_endpoint = f"{base}/cgi-bin/token/{realm}"
    answer = exec_in("app", ["oidc-fetch", token_endpoint, "--post-data", grant]).stdout
    token = answer.split('"access_token": "', 1)[1].split('"', 1)[0]
    assert http.get("/cgi-bin/notes", headers={"Authorization": f"Bearer {token}"}).status_code == 200
