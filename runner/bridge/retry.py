"""Retry with exponential backoff for calls to the forge and to Drone."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

log = logging.getLogger("cc-ci.bridge")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_seconds: float = 1.0
    max_seconds: float = 30.0


def backoff_delays(policy: RetryPolicy) -> list[float]:
    """The sleeps between attempts: base, 2*base, 4*base, ... capped; one fewer than attempts."""
    return [min(policy.base_seconds * 2**i, policy.max_seconds) for i in range(policy.attempts - 1)]


class Retryable(Exception):
    """Raised inside a retried call for a failure worth another attempt (5xx, 429, network)."""


def call_with_retry(
    fn: Callable[[], T],
    policy: RetryPolicy,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    delays = backoff_delays(policy)
    for attempt, delay in enumerate([*delays, None], start=1):
        try:
            return fn()
        except Retryable as err:
            if delay is None:
                raise
            log.warning(
                "%s failed (attempt %d/%d): %s; retrying in %.1fs",
                what,
                attempt,
                policy.attempts,
                err,
                delay,
            )
            sleep(delay)
    raise AssertionError("unreachable")


def send_once(http: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One HTTP call; network errors, 5xx and 429 raise Retryable, any other response is returned."""
    try:
        response = http.request(method, path, **kwargs)
    except httpx.TransportError as err:
        raise Retryable(type(err).__name__) from err
    if response.status_code >= 500 or response.status_code == 429:
        raise Retryable(f"HTTP {response.status_code}")
    return response


def retried(
    fn: Callable[[], T], policy: RetryPolicy, what: str, error: type[Exception],
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`call_with_retry`, turning running out of attempts into `error` naming the call."""
    try:
        return call_with_retry(fn, policy, what, sleep)
    except Retryable as err:
        raise error(f"{what}: {err} after {policy.attempts} attempts") from None


def expect_status(response: httpx.Response, ok: tuple[int, ...], what: str, error: type[Exception]) -> httpx.Response:
    if response.status_code not in ok:
        raise error(f"{what}: HTTP {response.status_code}")
    return response


def request_with_retry(
    http: httpx.Client, method: str, path: str, ok: tuple[int, ...], policy: RetryPolicy,
    what: str, error: type[Exception], **kwargs: Any,
) -> httpx.Response:
    """One HTTP call, retried on network errors, 5xx and 429; any other status not in `ok`,
    or running out of attempts, raises `error` naming the call."""
    response = retried(lambda: send_once(http, method, path, **kwargs), policy, what, error)
    return expect_status(response, ok, what, error)
