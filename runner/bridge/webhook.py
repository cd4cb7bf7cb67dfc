"""The bridge's HTTP side (Starlette): the webhook endpoint, the operator's endpoints
(`/healthz`, `/runs`, `/runs/<id>`, `/metrics`) whose content views.py and metrics.py build, and
the dashboard (runner/dashboard): `/runs` and `/runs/<id>` answer JSON unless the client ranks
text/html first in `Accept`, as browsers do.

Webhook checks, in order: body size (413), signature over the raw body (401), JSON (400),
event type (other events are acknowledged and ignored), payload shape (400); then the comment
is handed to the intake path and answered 202. Every 400 carries a one-line reason.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runner.bridge.forge.events import COMMENT_EVENTS, event_name, parse_comment_payload
from runner.bridge.forge.signature import signature_from_headers, verify_signature
from runner.bridge.intake import Intake
from runner.dashboard.catalog import page_params
from runner.dashboard.pages import Dashboard, page_failed, secured, wants_html

log = logging.getLogger("cc-ci.bridge")

TRIGGER_ACTIONS = frozenset({"created", "edited"})


class BodyTooLarge(Exception):
    pass


@dataclass(frozen=True)
class OperatorViews:
    """What the operator's endpoints serve; each call reads the bridge's state at that moment."""

    health: Callable[[], dict[str, object]]
    run_page: Callable[[str], dict[str, object] | None]
    runs_page: Callable[[int, int], dict[str, object]]
    metrics: Callable[[], bytes]
    metrics_content_type: str = "text/plain; version=0.0.4; charset=utf-8"


# JSON for API clients, the dashboard's page for browsers: both vary by `Accept`.
JSON_HEADERS = {"Vary": "Accept"}


@dataclass(frozen=True)
class NotJson:
    reason: str  # one line


def parse_json(body: bytes) -> object:
    """The parsed body, or NotJson saying why not. The decoder recurses per nesting level, so a
    signed body of 100000 `[` ends in RecursionError, not ValueError: both are bad input."""
    try:
        return json.loads(body)
    except RecursionError:
        return NotJson("nested too deeply")
    except UnicodeDecodeError:
        return NotJson("not UTF-8")
    except ValueError as err:
        return NotJson(str(err).splitlines()[0] if str(err) else type(err).__name__)


async def _read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # a lying or absent Content-Length is caught while streaming
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def build_app(
    *,
    path: str,
    secret: SecretStr,
    max_body_bytes: int,
    intake: Intake,
    views: OperatorViews,
    dashboard: Dashboard | None = None,
) -> Starlette:
    secret_bytes = secret.get_secret_value().encode()

    async def webhook(request: Request) -> Response:
        try:
            body = await _read_capped(request, max_body_bytes)
        except BodyTooLarge:
            return JSONResponse(
                {"error": f"body larger than {max_body_bytes} bytes"}, status_code=413
            )
        if not verify_signature(secret_bytes, body, signature_from_headers(dict(request.headers))):
            log.warning(
                "webhook from %s: bad or missing signature",
                request.client.host if request.client else "?",
            )
            return JSONResponse({"error": "bad signature"}, status_code=401)
        data = parse_json(body)
        if isinstance(data, NotJson):
            return JSONResponse({"error": f"body is not JSON: {data.reason}"}, status_code=400)
        event = event_name(dict(request.headers))
        if event not in COMMENT_EVENTS:
            return JSONResponse({"result": f"ignored: event {event or '(none)'}"}, status_code=200)
        payload = parse_comment_payload(data)
        if isinstance(payload, str):
            return JSONResponse(
                {"error": f"not an issue_comment payload: {payload}"}, status_code=400
            )
        if payload.action not in TRIGGER_ACTIONS:
            return JSONResponse({"result": f"ignored: action {payload.action}"}, status_code=200)
        result = await run_in_threadpool(intake.submit, payload.to_event())
        return JSONResponse({"result": result}, status_code=202 if result == "accepted" else 200)

    async def healthz(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(views.health), headers=JSON_HEADERS)

    async def run_status(request: Request) -> Response:
        if dashboard is not None and wants_html(request.headers.get("accept")):
            return await dashboard.page_response("run", request.path_params["run_id"])
        page = await run_in_threadpool(views.run_page, request.path_params["run_id"])
        if page is None:
            return JSONResponse({"error": "no such run"}, status_code=404, headers=JSON_HEADERS)
        return JSONResponse(page, headers=JSON_HEADERS)

    async def run_list(request: Request) -> Response:
        if dashboard is not None and wants_html(request.headers.get("accept")):
            return await dashboard.page_response("runs", query=dict(request.query_params))
        params = page_params(dict(request.query_params))
        if isinstance(params, str):
            return JSONResponse({"error": params}, status_code=400, headers=JSON_HEADERS)
        page = await run_in_threadpool(views.runs_page, *params)
        return JSONResponse(page, headers=JSON_HEADERS)

    async def metrics(request: Request) -> Response:
        body = await run_in_threadpool(views.metrics)
        return Response(body, media_type=views.metrics_content_type)

    return Starlette(
        routes=[
            Route(path, webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/runs", run_list, methods=["GET"]),
            Route("/runs/{run_id}", run_status, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            *(dashboard.routes() if dashboard is not None else []),
        ],
        # nosniff and the CSP on every answer; an unexpected error answers a fixed sentence
        exception_handlers={Exception: page_failed},
        middleware=[Middleware(secured)],
    )
