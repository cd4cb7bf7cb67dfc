"""Does the app answer HTTP? One probe per place traefik would send a request (`traefik.Target`),
tried again until a deadline while the app boots. Pure but for the `attempt` it is handed.

Any status below 500 means the app answered: a login page (401, 403), a redirect of any kind
(301-308), even a 404 for a path it does not serve. A 5xx or a failed connection means it did
not, yet: a service without a healthcheck is converged as soon as its container runs, before
its process listens, and a proxy in front of a booting backend answers 502/503 meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from runner.errors import CcciError
from runner.recipe.traefik import Target, WebService, routes_domain

RETRY_EVERY_S = 0.5


@dataclass(frozen=True)
class Answer:
    """How one target answered, the last time it was tried."""

    target: Target
    path: str
    status: int | None  # the last HTTP status, None when no try got one
    error: str | None  # the last try's connection error, None when it got a status
    tries: int
    waited_s: float

    @property
    def answered(self) -> bool:
        return self.status is not None and self.status < 500

    def text(self) -> str:
        """`app: GET / on port 80 with Host: a.test answered 401 (1 try in 0.0s)`."""
        t = self.target
        if self.answered:
            outcome = f"answered {self.status}"
        elif self.error is not None:
            outcome = f"got no answer: {self.error}"
        else:
            outcome = f"answered {self.status}, a server error"
        tries = f"{self.tries} {'try' if self.tries == 1 else 'tries'}"
        return (f"{t.service}: GET {self.path} on port {t.port} with Host: {t.host} "
                f"(router {', '.join(t.routers)}) {outcome} ({tries} in {self.waited_s:.1f}s)")


def probe(target: Target, path: str, attempt: Callable[[], int], deadline_s: float,
          clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
          every_s: float = RETRY_EVERY_S) -> Answer:
    """`attempt()` sends the request and returns its status, or raises when it could not (an
    httpx error; InfraError while no container runs). Tried until a status below 500, or until
    `deadline_s` has passed (a try in flight then finishes)."""
    started = clock()
    tries, status, error = 0, None, None
    while True:
        tries += 1
        try:
            status, error = attempt(), None
        # a refused or reset connection, a timeout, no running container to send it to yet
        except (httpx.HTTPError, CcciError, OSError) as err:
            status, error = None, _one_line(err)
        answer = Answer(target, path, status, error, tries, clock() - started)
        if answer.answered or clock() - started >= deadline_s:
            return answer
        sleep(every_s)


def _one_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def domain_unserved(services: list[WebService], domain: str, answers: list[Answer]) -> str | None:
    """Why a request for the app's domain would not reach an answering app, or None: no router
    routes the domain, or those that do forward where the probes got no answer."""
    routers = routes_domain(services, domain)
    if not routers:
        rules = "; ".join(f"{s.name} router {r.name}: {r.rule!r}" for s in services for r in s.routers)
        return f"no router of a web-facing service routes {domain}: {rules or 'no routers'}"
    answered = {(a.target.service, a.target.port) for a in answers if a.answered}
    if any(r.elsewhere or (r.reaches, r.port) in answered for r in routers):
        return None
    places = ", ".join(f"{r.name} -> {r.reaches}:{r.port}" for r in routers)
    return f"the routers of {domain} forward where the app did not answer ({places})"
