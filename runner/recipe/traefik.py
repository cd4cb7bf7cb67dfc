"""What traefik would make of a stack's deploy labels: which services are web-facing, which hosts
each router's rule routes, and which service port each router forwards to. Pure: fed the labels.

Only what traefik's swarm provider does is modelled: labels on services (not containers), HTTP
routers and services, and no port detection (swarm gives traefik none, so a router reaches a
container only through a `loadbalancer.server.port` label).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_ROUTER = re.compile(r"^traefik\.http\.routers\.([^.]+)\.(.+)$")
_SERVICE_PORT = re.compile(r"^traefik\.http\.services\.([^.]+)\.loadbalancer\.server\.port$")
_HTTP_SERVICE = re.compile(r"^traefik\.http\.services\.([^.]+)\.")
_HOST_MATCHERS = {"host", "hostheader"}  # HostHeader: traefik v2's alias of Host
_HOST_REGEXP_MATCHERS = {"hostregexp"}


class RuleError(ValueError):
    """A rule this parser does not understand (traefik may: the rule is then not judged)."""


@dataclass(frozen=True)
class Router:
    """One HTTP router of a service, as traefik would build it from the labels."""

    name: str
    rule: str | None  # None: no rule label, traefik's defaultRule (the service's name) applies
    service: str | None  # the traefik service it forwards to (a `x@provider` one is elsewhere)
    port: int | None  # the container port it forwards to; None when it reaches no port here
    reaches: str | None = None  # the app service whose containers get its requests
    problem: str | None = None  # why it forwards to no port of the app, when it should

    @property
    def elsewhere(self) -> bool:
        """It forwards to another provider's service (`api@internal`, `x@file`), not the app."""
        return self.service is not None and "@" in self.service

    def hosts(self) -> list[str]:
        """The literal hosts its rule names in Host() matchers (empty ones included)."""
        return rule_hosts(self.rule) if self.rule else []

    def routes(self, host: str) -> bool:
        """Could a request for `host` match this router? (Unknown syntax: assumed it could.)"""
        if self.rule is None or not self.rule.strip():  # traefik drops a router with an empty rule
            return False
        try:
            return rule_routes(self.rule, host)
        except RuleError:
            return True


@dataclass(frozen=True)
class WebService:
    """A service of the stack that traefik routes HTTP to (`traefik.enable=true`)."""

    name: str  # the service's name in the recipe (no stack prefix)
    routers: tuple[Router, ...]


@dataclass(frozen=True)
class Target:
    """Where a router sends a request: this service's containers on this port, for this host."""

    service: str
    port: int
    host: str
    routers: tuple[str, ...]


def is_web_facing(labels: Mapping[str, str]) -> bool:
    """traefik.enable=true and not only TCP/UDP routers (a mail or SSH port is not HTTP)."""
    if labels.get("traefik.enable", "").strip().lower() not in ("true", "1"):
        return False
    http = any(k.startswith(("traefik.http.routers.", "traefik.http.services.")) for k in labels)
    other = any(k.startswith(("traefik.tcp.", "traefik.udp.")) for k in labels)
    return http or not other


def web_services(labels_by_service: Mapping[str, Mapping[str, str]]) -> list[WebService]:
    """The web-facing services, each with its HTTP routers resolved to a port."""
    ports = _service_ports(labels_by_service)
    found = []
    for name, labels in sorted(labels_by_service.items()):
        if is_web_facing(labels):
            found.append(WebService(name, tuple(_routers(name, labels, ports))))
    return found


def serving_targets(services: list[WebService], domain: str) -> list[Target]:
    """Every (service, port, host) a router of the app forwards to: the host is the app's domain
    when the router routes it, else the first host its rule names (a second domain)."""
    targets: dict[tuple[str, int, str], list[str]] = {}
    for service in services:
        for router in service.routers:
            if router.port is None or router.reaches is None:
                continue
            host = domain if router.routes(domain) else next((h for h in router.hosts() if h), domain)
            targets.setdefault((router.reaches, router.port, host), []).append(router.name)
    return [Target(s, p, h, tuple(r)) for (s, p, h), r in sorted(targets.items())]


def routing_problems(service: WebService) -> list[str]:
    """Why this web-facing service is reached under no host: no router, empty hosts, no port."""
    if not service.routers:
        return [f"{service.name}: traefik.enable=true but no HTTP router: traefik would route it "
                "only under its defaultRule (the service's name), never a domain"]
    usable = [r for r in service.routers if r.problem is None and _names_a_host(r)]
    if usable:
        return []
    return [f"{service.name}: router {r.name} {_why_unusable(r)}" for r in service.routers]


def routes_domain(services: list[WebService], domain: str) -> list[Router]:
    """The routers of the app that route its domain somewhere traefik can forward to."""
    return [r for s in services for r in s.routers if r.problem is None and r.routes(domain)]


# -- rules ------------------------------------------------------------------------------------


_TOKEN = re.compile(r"\s*(?:(\|\||&&|[!(),])|`([^`]*)`|\"((?:[^\"\\]|\\.)*)\"|([A-Za-z]+))")


def rule_hosts(rule: str) -> list[str]:
    """The literal arguments of every Host()/HostHeader() matcher of the rule."""
    try:
        return [arg for name, args in _matchers(_parse(rule)) if name in _HOST_MATCHERS for arg in args]
    except RuleError:
        return []


def rule_routes(rule: str, host: str) -> bool:
    """Can a request for `host` match the rule? Matchers on other things than the host (paths,
    headers, methods) can match some request, so they count as possibly true."""
    return _evaluate(_parse(rule), host.lower()) is not False


# A parsed rule: ("or"|"and", [rules]) | ("not", [rule]) | ("match", name, [args])
_Node = tuple[Any, ...]
_Tokens = list[tuple[str, str]]


# Nesting of parentheses and `!`: the parser recurses per level, and a rule is a PR's text
_MAX_NESTING = 50


def _parse(rule: str) -> _Node:
    tokens = _tokenize(rule)
    node, at = _parse_or(tokens, 0, 0)
    if at != len(tokens):
        raise RuleError(f"unexpected {tokens[at][1]!r} in {rule!r}")
    return node


def _tokenize(rule: str) -> _Tokens:
    tokens: _Tokens = []
    at = 0
    rule = rule.rstrip()
    while at < len(rule):
        match = _TOKEN.match(rule, at)
        if not match:
            raise RuleError(f"cannot read {rule[at:]!r}")
        punct, backticked, quoted, name = match.groups()
        if punct:
            tokens.append(("op", punct))
        elif backticked is not None:
            tokens.append(("str", backticked))
        elif quoted is not None:
            tokens.append(("str", re.sub(r"\\(.)", r"\1", quoted)))
        else:
            tokens.append(("name", name))
        at = match.end()
    if not tokens:
        raise RuleError("empty rule")
    return tokens


def _parse_or(tokens: _Tokens, at: int, depth: int) -> tuple[_Node, int]:
    return _parse_joined(tokens, at, "||", "or", lambda t, a: _parse_and(t, a, depth))


def _parse_and(tokens: _Tokens, at: int, depth: int) -> tuple[_Node, int]:
    return _parse_joined(tokens, at, "&&", "and", lambda t, a: _parse_unary(t, a, depth))


def _parse_joined(tokens: _Tokens, at: int, joiner: str, kind: str,
                  inner: Callable[[_Tokens, int], tuple[_Node, int]]) -> tuple[_Node, int]:
    first, at = inner(tokens, at)
    parts = [first]
    while at < len(tokens) and tokens[at] == ("op", joiner):
        part, at = inner(tokens, at + 1)
        parts.append(part)
    return (first, at) if len(parts) == 1 else ((kind, parts), at)


def _parse_unary(tokens: _Tokens, at: int, depth: int) -> tuple[_Node, int]:
    if at >= len(tokens):
        raise RuleError("the rule ends early")
    if depth > _MAX_NESTING:
        raise RuleError(f"the rule nests deeper than {_MAX_NESTING} levels")
    kind, value = tokens[at]
    if (kind, value) == ("op", "!"):
        inner, at = _parse_unary(tokens, at + 1, depth + 1)
        return ("not", [inner]), at
    if (kind, value) == ("op", "("):
        inner, at = _parse_or(tokens, at + 1, depth + 1)
        _expect(tokens, at, ")")
        return inner, at + 1
    if kind == "name":
        return _parse_matcher(tokens, at)
    raise RuleError(f"unexpected {value!r}")


def _parse_matcher(tokens: _Tokens, at: int) -> tuple[_Node, int]:
    name = tokens[at][1].lower()
    _expect(tokens, at + 1, "(")
    at, args = at + 2, []
    while at < len(tokens) and tokens[at][0] == "str":
        args.append(tokens[at][1])
        at += 1
        if at < len(tokens) and tokens[at] == ("op", ","):
            at += 1
    _expect(tokens, at, ")")
    return ("match", name, args), at + 1


def _expect(tokens: _Tokens, at: int, op: str) -> None:
    if at >= len(tokens) or tokens[at] != ("op", op):
        raise RuleError(f"expected {op!r}")


def _matchers(node: _Node) -> list[tuple[str, list[str]]]:
    if node[0] == "match":
        return [(node[1], node[2])]
    return [m for child in node[1] for m in _matchers(child)]


def _evaluate(node: _Node, host: str) -> bool | None:
    """Three-valued: True (matches every request for host), False (none), None (some may)."""
    kind = node[0]
    if kind == "match":
        return _match(node[1], node[2], host)
    values = [_evaluate(child, host) for child in node[1]]
    if kind == "not":
        return None if values[0] is None else not values[0]
    if kind == "and":
        return False if False in values else (None if None in values else True)
    return True if True in values else (None if None in values else False)


def _match(name: str, args: list[str], host: str) -> bool | None:
    if name in _HOST_MATCHERS:
        return any(arg.strip().lower() == host for arg in args)
    if name in _HOST_REGEXP_MATCHERS:
        results = [_host_regexp(arg, host) for arg in args]
        return True if True in results else (None if None in results else False)
    return None  # Path, PathPrefix, Method, Header, Query, ClientIP, ...: true for some request


# `{name}` or `{name:regexp}`; a name starts with a letter, so a v3 quantifier (`{3}`) is none
_V2_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::((?:[^{}]|\{[^{}]*\})*))?\}")


def _host_regexp(pattern: str, host: str) -> bool | None:
    """traefik v2 templates (`{sub:[a-z]+}.example.com`, anchored) or v3 Go regexps (not)."""
    try:
        if _V2_VARIABLE.search(pattern):
            return re.fullmatch(_v2_template(pattern), host, re.IGNORECASE) is not None
        return re.search(pattern, host, re.IGNORECASE) is not None
    except (re.error, RecursionError, OverflowError):
        return None  # Go's syntax, not Python's, or past what Python's compiler takes: unknown


def _v2_template(pattern: str) -> str:
    out, at = [], 0
    for variable in _V2_VARIABLE.finditer(pattern):
        out += [re.escape(pattern[at:variable.start()]), f"(?:{variable.group(2) or '[^.]+'})"]
        at = variable.end()
    return "".join(out) + re.escape(pattern[at:])


# -- routers and ports ------------------------------------------------------------------------


Ports = dict[str, dict[str, str]]  # traefik service -> {app service defining its port: the port label}


def _service_ports(labels_by_service: Mapping[str, Mapping[str, str]]) -> Ports:
    ports: Ports = {}
    for owner, labels in sorted(labels_by_service.items()):
        if not is_web_facing(labels):
            continue
        for key, value in labels.items():
            if match := _SERVICE_PORT.match(key):
                ports.setdefault(match.group(1), {})[owner] = value.strip()
    return ports


def _routers(owner: str, labels: Mapping[str, str], ports: Ports) -> list[Router]:
    props: dict[str, dict[str, str]] = {}
    for key, value in labels.items():
        if match := _ROUTER.match(key):
            props.setdefault(match.group(1), {})[match.group(2)] = value
    own_services = sorted({m.group(1) for k in labels if (m := _HTTP_SERVICE.match(k))})
    return [_router(name, p, owner, own_services, ports) for name, p in sorted(props.items())]


def _router(name: str, props: Mapping[str, str], owner: str, own_services: list[str], ports: Ports) -> Router:
    rule = props.get("rule")
    service = props.get("service", "").strip() or None
    if service is None:
        service, problem = _assigned_service(own_services)
        if service is None:
            return Router(name, rule, None, None, problem=problem)
    if "@" in service:
        return Router(name, rule, service, None)
    defined = ports.get(service, {})
    if not defined:
        return Router(name, rule, service, None, problem=f"forwards to service {service}, "
                      "which no loadbalancer.server.port label of the app defines")
    # its own labels first: a service name two app services both define is each one's own
    reaches = owner if owner in defined else next(iter(defined))
    port = defined[reaches]
    if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):  # '²'.isdigit(), yet no int
        return Router(name, rule, service, None, problem=f"forwards to service {service}, "
                      f"whose port {port!r} is not a number from 1 to 65535")
    return Router(name, rule, service, int(port), reaches)


def _assigned_service(own_services: list[str]) -> tuple[str | None, str | None]:
    """The service traefik gives a router that names none: the one its labels define, if one."""
    if len(own_services) == 1:
        return own_services[0], None
    if not own_services:
        return None, ("names no service and the labels define none, so no port: traefik's swarm provider "
                      "cannot detect one (set traefik.http.services.<name>.loadbalancer.server.port)")
    return None, f"names no service but the labels define several ({', '.join(own_services)}): traefik cannot choose"


def _names_a_host(router: Router) -> bool:
    """Its rule routes some named host, or every host (no Host matcher), or is unreadable."""
    if router.rule is None or not router.rule.strip():
        return False
    try:
        node = _parse(router.rule)
    except RuleError:
        return True
    hosts = [(name, args) for name, args in _matchers(node) if name in _HOST_MATCHERS | _HOST_REGEXP_MATCHERS]
    return not hosts or any(arg.strip() for _name, args in hosts for arg in args)


def _why_unusable(router: Router) -> str:
    if router.problem:
        return router.problem
    if router.rule is None:
        return "has no rule: traefik's defaultRule (the service's name) applies, never a domain"
    if not router.rule.strip():
        return "has an empty rule: traefik drops it"
    return f"routes no host: {router.rule} names an empty one (an unset variable in the compose file?)"
