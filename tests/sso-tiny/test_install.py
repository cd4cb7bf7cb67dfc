"""sso-tiny after install: a realm made as the provisioning hook makes one publishes its discovery
document, signs its user in through the authorization code flow and the password grant, answers
userinfo for its own tokens only, and keeps its state in the volume."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx


def _realm(exec_in: Any, domain: str) -> dict[str, str]:
    """A realm whose issuer is the app's own domain (how these tests reach it)."""
    name = f"t-{secrets.token_hex(4)}"
    realm = {"realm": name, "issuer": f"http://{domain}/realms/{name}", "client_id": f"{name}-client",
             "client_secret": secrets.token_urlsafe(24), "username": "ada", "password": secrets.token_urlsafe(18)}
    exec_in("app", ["sso-admin", "realm", name, realm["issuer"], realm["client_id"], realm["client_secret"],
                    realm["username"], realm["password"]])
    return realm


def _path(url: str) -> str:
    return urlsplit(url).path


def _password_token(http: httpx.Client, realm: dict[str, str], discovery: dict[str, Any]) -> httpx.Response:
    return http.post(_path(discovery["token_endpoint"]), data={
        "grant_type": "password", "username": realm["username"], "password": realm["password"],
        "client_id": realm["client_id"], "client_secret": realm["client_secret"]})


def _discovery(http: httpx.Client, realm: dict[str, str]) -> dict[str, Any]:
    answer = http.get(f"/realms/{realm['realm']}/.well-known/openid-configuration")
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    return document


def test_a_realm_publishes_its_discovery_document(http: httpx.Client, exec_in: Any, app: Any) -> None:
    realm = _realm(exec_in, app.domain)
    discovery = _discovery(http, realm)
    assert discovery["issuer"] == realm["issuer"]
    for endpoint in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        assert discovery[endpoint].startswith(f"http://{app.domain}/"), endpoint


def test_the_authorization_code_flow_signs_the_user_in(http: httpx.Client, exec_in: Any, app: Any) -> None:
    realm = _realm(exec_in, app.domain)
    discovery = _discovery(http, realm)
    authorize = _path(discovery["authorization_endpoint"])
    query = {"client_id": realm["client_id"], "redirect_uri": "http://client.test/callback", "state": "s1",
             "response_type": "code"}
    assert "<form" in http.get(authorize, params=query).text
    refused = http.post(authorize, data={**query, "username": "ada", "password": "wrong"})
    assert refused.status_code == 401
    answer = http.post(authorize, data={**query, "username": "ada", "password": realm["password"]})
    assert answer.status_code == 302
    location = urlsplit(answer.headers["location"])
    assert (location.netloc, location.path) == ("client.test", "/callback")
    params = parse_qs(location.query)
    assert params["state"] == ["s1"]
    exchange = {"grant_type": "authorization_code", "code": params["code"][0],
                "client_id": realm["client_id"], "client_secret": realm["client_secret"]}
    token = http.post(_path(discovery["token_endpoint"]), data=exchange)
    assert token.status_code == 200, token.text
    access = token.json()["access_token"]
    again = http.post(_path(discovery["token_endpoint"]), data=exchange)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"  # a code is good once
    info = http.get(_path(discovery["userinfo_endpoint"]), headers={"Authorization": f"Bearer {access}"})
    assert info.status_code == 200
    assert info.json() == {"sub": "ada", "preferred_username": "ada", "iss": realm["issuer"]}


def test_the_token_endpoint_checks_the_client_and_the_password(http: httpx.Client, exec_in: Any, app: Any) -> None:
    realm = _realm(exec_in, app.domain)
    discovery = _discovery(http, realm)
    assert _password_token(http, realm, discovery).status_code == 200
    assert _password_token(http, {**realm, "password": "wrong"}, discovery).status_code == 400
    assert _password_token(http, {**realm, "client_secret": "wrong"}, discovery).status_code == 401


def test_a_realms_tokens_are_unknown_to_another_realm(http: httpx.Client, exec_in: Any, app: Any) -> None:
    first, second = _realm(exec_in, app.domain), _realm(exec_in, app.domain)
    token = _password_token(http, first, _discovery(http, first)).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert http.get(_path(_discovery(http, first)["userinfo_endpoint"]), headers=bearer).status_code == 200
    assert http.get(_path(_discovery(http, second)["userinfo_endpoint"]), headers=bearer).status_code == 401
    assert http.get(_path(_discovery(http, first)["userinfo_endpoint"])).status_code == 401  # no token at all


def test_the_health_endpoint_fails_once_the_state_is_gone(http: httpx.Client) -> None:
    # what cc-ci asks before reusing a shared sso-tiny (HEALTH_PATH); the e2e removes the state
    assert http.get("/cgi-bin/health").status_code == 200


def test_realms_users_and_tokens_live_in_the_volume(http: httpx.Client, exec_in: Any, app: Any) -> None:
    realm = _realm(exec_in, app.domain)
    token = _password_token(http, realm, _discovery(http, realm)).json()["access_token"]
    assert realm["realm"] in exec_in("app", ["sso-admin", "realms"]).stdout.split()
    assert exec_in("app", ["cat", f"/var/lib/sso/realms/{realm['realm']}/tokens/{token}"]).stdout == "ada"
    # the state is never served: only the discovery documents are public
    assert http.get(f"/realms/{realm['realm']}/client_secret").status_code == 404
