"""sso-tiny's settings: what cc-ci asks before it reuses a shared sso-tiny (issue 26) is its health
endpoint, which answers 503 once the provider cannot serve its realms."""

HEALTH_PATH = "/cgi-bin/health"
