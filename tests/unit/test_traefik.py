"""Reading traefik's labels: which services are web-facing, which hosts a rule routes, which port
each router forwards to, and what keeps a service from being routed under any host."""

from __future__ import annotations

import pytest

from runner.recipe.traefik import (
    Target,
    is_web_facing,
    routes_domain,
    routing_problems,
    rule_hosts,
    rule_routes,
    serving_targets,
    web_services,
)

DOMAIN = "app.test"


def _labels(rule: str | None = "Host(`app.test`)", port: str | None = "80", router: str = "app",
            **extra: str) -> dict[str, str]:
    labels = {"traefik.enable": "true", **extra}
    if rule is not None:
        labels[f"traefik.http.routers.{router}.rule"] = rule
    if port is not None:
        labels[f"traefik.http.services.{router}.loadbalancer.server.port"] = port
    return labels


@pytest.mark.parametrize(("rule", "host", "routes"), [
    ("Host(`app.test`)", "app.test", True),
    ("Host(`APP.test`)", "app.test", True),  # hosts compare without case
    ("Host(`other.test`)", "app.test", False),
    ("Host(``)", "app.test", False),  # a misspelt ${DOMIAN} deploys this
    ("Host(`www.app.test`, `app.test`)", "app.test", True),  # traefik v2: several hosts
    ("Host(`a.test`) || Host(`app.test`)", "app.test", True),
    ("Host(`a.test`) || Host(`b.test`)", "app.test", False),
    ("Host(\"app.test\")", "app.test", True),  # v3 allows double quotes
    # other matchers match some request for any host
    ("Host(`app.test`) && PathPrefix(`/api`)", "app.test", True),
    ("Host(`a.test`) && PathPrefix(`/api`)", "app.test", False),
    ("PathPrefix(`/`)", "app.test", True),
    ("(Host(`a.test`) || Host(`app.test`)) && Method(`GET`)", "app.test", True),
    ("!Host(`a.test`)", "app.test", True),
    ("!Host(`app.test`)", "app.test", False),
    # HostRegexp: traefik v2 templates are anchored, v3 regexps are not
    ("HostRegexp(`{sub:[a-z]+}.app.test`)", "www.app.test", True),
    ("HostRegexp(`{sub:[a-z]+}.app.test`)", "app.test", False),
    ("HostRegexp(`{sub}.app.test`)", "x.app.test", True),
    ("Host(`app.test`) || HostRegexp(`{sub:[a-z0-9-]+}.app.test`)", "app.test", True),
    ("HostRegexp(`^.+\\.app\\.test$`)", "a.app.test", True),
    ("HostRegexp(`^.+\\.app\\.test$`)", "other.test", False),
    ("HostRegexp(`(?P<x`)", "app.test", True),  # not Python's syntax: unknown, so not a red
    ("HostRegexp(`^[a-z]{3}\\.test$`)", "app.test", True),  # a v3 quantifier is no v2 variable
])
def test_a_rule_routes_a_host(rule: str, host: str, routes: bool) -> None:
    assert rule_routes(rule, host) is routes


def test_a_rule_names_its_literal_hosts_empty_ones_included() -> None:
    assert rule_hosts("Host(`a.test`, ``) || (HostHeader(`b.test`) && Path(`/x`))") == ["a.test", "", "b.test"]
    assert rule_hosts("Host(`unclosed") == []


def test_web_facing_means_enabled_and_not_only_tcp_or_udp() -> None:
    assert is_web_facing(_labels())
    assert is_web_facing({"traefik.enable": "True"})  # traefik's own default router: still HTTP
    assert not is_web_facing({**_labels(), "traefik.enable": "false"})
    assert not is_web_facing({"traefik.http.routers.x.rule": "Host(`app.test`)"})
    assert not is_web_facing({"traefik.enable": "true", "traefik.tcp.routers.ssh.rule": "HostSNI(`*`)",
                              "traefik.tcp.services.ssh.loadbalancer.server.port": "22"})


def test_a_router_without_service_gets_the_one_its_labels_define() -> None:
    [app] = web_services({"app": _labels(), "db": {}})
    [router] = app.routers
    assert (router.service, router.port, router.reaches, router.problem) == ("app", 80, "app", None)


def test_routers_name_their_services_and_reach_their_ports() -> None:
    labels = {"traefik.enable": "true",
              "traefik.http.routers.api.rule": "Host(`app.test`)", "traefik.http.routers.api.service": "api",
              "traefik.http.services.api.loadbalancer.server.port": "9000",
              "traefik.http.routers.console.rule": "Host(`console.test`)",
              "traefik.http.routers.console.service": "console",
              "traefik.http.services.console.loadbalancer.server.port": "9001"}
    [minio] = web_services({"minio": labels})
    assert serving_targets([minio], DOMAIN) == [
        Target("minio", 9000, "app.test", ("api",)), Target("minio", 9001, "console.test", ("console",))]


def test_every_web_service_is_a_target_on_its_own_port() -> None:
    services = web_services({"app": _labels(), "admin": _labels("Host(`app.test`) && PathPrefix(`/admin`)",
                                                                 "8080", router="admin"), "worker": {}})
    assert serving_targets(services, DOMAIN) == [Target("admin", 8080, DOMAIN, ("admin",)),
                                                 Target("app", 80, DOMAIN, ("app",))]


def test_a_router_may_forward_to_a_port_another_service_defines() -> None:
    services = web_services({
        "app": {"traefik.enable": "true", "traefik.http.routers.r.rule": "Host(`app.test`)",
                "traefik.http.routers.r.service": "backend"},
        "backend": {"traefik.enable": "true", "traefik.http.services.backend.loadbalancer.server.port": "3000"},
    })
    assert serving_targets(services, DOMAIN) == [Target("backend", 3000, DOMAIN, ("r",))]


def test_a_router_to_another_providers_service_reaches_no_port_and_is_fine() -> None:
    [dashboard] = web_services({"traefik": {"traefik.enable": "true",
                                            "traefik.http.routers.api.rule": "Host(`app.test`)",
                                            "traefik.http.routers.api.service": "api@internal"}})
    assert serving_targets([dashboard], DOMAIN) == []
    assert routing_problems(dashboard) == []
    assert [r.name for r in routes_domain([dashboard], DOMAIN)] == ["api"]


def test_a_misspelt_domain_variable_routes_no_host() -> None:
    [app] = web_services({"app": _labels("Host(``)")})
    assert routes_domain([app], DOMAIN) == []
    assert routing_problems(app) == [
        "app: router app routes no host: Host(``) names an empty one (an unset variable in the compose file?)"]


def test_a_second_domain_is_routed_and_probed_under_its_own_host() -> None:
    services = web_services({"app": _labels(), "sandbox": _labels("Host(`sandbox.test`)", "81", router="sb")})
    assert [routing_problems(s) for s in services] == [[], []]
    assert Target("sandbox", 81, "sandbox.test", ("sb",)) in serving_targets(services, DOMAIN)


@pytest.mark.parametrize(("labels", "problem"), [
    ({"traefik.enable": "true"}, "app: traefik.enable=true but no HTTP router"),
    (_labels(port=None), "app: router app names no service and the labels define none, so no port"),
    (_labels(port="${PORT}"), "app: router app forwards to service app, whose port '${PORT}' is not a number"),
    ({**_labels(), "traefik.http.services.other.loadbalancer.server.port": "81"},
     "app: router app names no service but the labels define several (app, other)"),
    ({**_labels(), "traefik.http.routers.app.service": "nowhere"},
     "app: router app forwards to service nowhere, which no loadbalancer.server.port label of the app defines"),
    ({"traefik.enable": "true", "traefik.http.routers.app.entrypoints": "web-secure",
      "traefik.http.services.app.loadbalancer.server.port": "80"},
     "app: router app has no rule: traefik's defaultRule"),
])
def test_what_keeps_a_web_service_from_being_routed(labels: dict[str, str], problem: str) -> None:
    [app] = web_services({"app": labels})
    problems = routing_problems(app)
    assert len(problems) == 1 and problems[0].startswith(problem), problems


def test_a_router_with_an_empty_rule_routes_nothing() -> None:
    [app] = web_services({"app": _labels("")})
    assert routes_domain([app], DOMAIN) == []
    assert routing_problems(app) == ["app: router app has an empty rule: traefik drops it"]


def test_one_usable_router_is_enough_for_a_service() -> None:
    labels = {**_labels(), "traefik.http.routers.typo.rule": "Host(``)", "traefik.http.routers.typo.service": "app"}
    [app] = web_services({"app": labels})
    assert routing_problems(app) == []
