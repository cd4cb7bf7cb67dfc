"""The serving probe: any status below 500 is an answer; a 5xx or a failed connection is tried
again until the deadline, so a booting service is not a red and a broken one is named."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from runner.errors import InfraError
from runner.evidence.serving import Answer, domain_unserved, probe
from runner.recipe.traefik import Target, web_services

TARGET = Target("app", 80, "app.test", ("app",))


class Clock:
    """Time that moves only when the probe sleeps (or a try takes `per_try_s`)."""

    def __init__(self, per_try_s: float = 0.0) -> None:
        self.now, self.per_try_s, self.sleeps = 0.0, per_try_s, 0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds


def _answers(*outcomes: int | Exception, clock: Clock) -> Callable[[], int]:
    """Each try gives the next outcome (the last one repeats)."""
    left = list(outcomes)

    def attempt() -> int:
        clock.now += clock.per_try_s
        outcome = left.pop(0) if len(left) > 1 else left[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome
    return attempt


def _probe(*outcomes: int | Exception, deadline_s: float = 120.0) -> tuple[Answer, Clock]:
    clock = Clock()
    answer = probe(TARGET, "/", _answers(*outcomes, clock=clock), deadline_s, clock=clock, sleep=clock.sleep)
    return answer, clock


@pytest.mark.parametrize("status", [200, 204, 301, 302, 303, 307, 308, 401, 403, 404, 418, 499])
def test_any_status_below_500_is_an_answer_at_the_first_try(status: int) -> None:
    answer, clock = _probe(status)
    assert answer.answered and (answer.status, answer.tries, clock.sleeps) == (status, 1, 0)


def test_a_booting_service_is_tried_until_it_answers() -> None:
    refused = httpx.ConnectError("[Errno 111] Connection refused")
    answer, _ = _probe(refused, refused, InfraError("cannot reach s_app after 30s: no running container"), 503, 200)
    assert answer.answered and (answer.status, answer.tries) == (200, 5)
    assert answer.waited_s == pytest.approx(2.0)


def test_a_refused_connection_until_the_deadline_is_no_answer_and_says_so() -> None:
    answer, _ = _probe(httpx.ConnectError("[Errno 111] Connection refused"), deadline_s=10.0)
    assert not answer.answered and answer.tries == 21 and answer.waited_s == pytest.approx(10.0)
    assert answer.text() == ("app: GET / on port 80 with Host: app.test (router app) got no answer: "
                             "ConnectError: [Errno 111] Connection refused (21 tries in 10.0s)")


def test_a_server_error_until_the_deadline_is_no_answer_and_names_the_status() -> None:
    answer, _ = _probe(502, 500, deadline_s=1.0)
    assert not answer.answered and answer.status == 500
    assert answer.text().endswith("answered 500, a server error (3 tries in 1.0s)")


def test_a_try_that_outlasts_the_deadline_is_the_last() -> None:
    clock = Clock(per_try_s=15.0)
    answer = probe(TARGET, "/", _answers(httpx.ReadTimeout("timed out"), clock=clock), 10.0,
                   clock=clock, sleep=clock.sleep)
    assert (answer.answered, answer.tries) == (False, 1)


def test_a_harness_bug_in_the_attempt_is_not_taken_for_a_booting_app() -> None:
    with pytest.raises(TypeError):
        _probe(TypeError("a bug"))


def _answer(service: str, port: int, status: int) -> Answer:
    return Answer(Target(service, port, "app.test", ("r",)), "/", status, None, 1, 0.0)


def test_the_domain_is_served_when_a_router_of_it_forwards_where_the_app_answered() -> None:
    services = web_services({"app": {"traefik.enable": "true", "traefik.http.routers.r.rule": "Host(`app.test`)",
                                     "traefik.http.services.r.loadbalancer.server.port": "80"}})
    assert domain_unserved(services, "app.test", [_answer("app", 80, 401)]) is None
    assert domain_unserved(services, "app.test", [_answer("app", 80, 502)]) == (
        "the routers of app.test forward where the app did not answer (r -> app:80)")
    assert domain_unserved(services, "other.test", [_answer("app", 80, 200)]) == (
        "no router of a web-facing service routes other.test: app router r: 'Host(`app.test`)'")
