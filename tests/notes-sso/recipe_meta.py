"""notes-sso's settings: it needs an OpenID Connect provider beside it, the bundled sso-tiny
(issue 26). The run deploys or reuses it, its provision hook makes this run's realm, and the app
starts already configured with that realm's issuer and client."""

DEPS = ["sso-tiny"]
DEPS_ENV = {
    "OIDC_ISSUER": "{sso-tiny.issuer}",
    "OIDC_CLIENT_ID": "{sso-tiny.client_id}",
    "OIDC_CLIENT_SECRET": "{sso-tiny.client_secret}",
}
