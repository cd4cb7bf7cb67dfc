"""The dashboard's HTTP side: `/`, `/recipes/<recipe>`, `/runs`, `/runs/<id>` (+ its files and a
live JSON for the page to poll), `/badge/<recipe>.svg`, `/catalogue` (+ `/catalogue.json`, the
catalogue's matrix from its history: runner/dashboard/cataloguepage.py). Server-rendered (Jinja2, autoescaped),
readable without JavaScript; the one script only refreshes the live part of a running run's page.

A Content-Security-Policy without inline scripts backs the escaping: even text that escaped it
could not run; every response carries it, `nosniff` and `frame-ancestors 'none'` (`secured`).
Used by the bridge (webhook.py mounts these routes) and by `cc-ci serve`.

One damaged run dir never takes a page down: runs are read through `runner.run.readback`,
which confines damage to that run's row and page ("unreadable: <why>"). A page that fails anyway
answers a fixed sentence (the reason goes to the log), and a read that hangs is abandoned when the
server stops (`STOP_WITHIN_S`).
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runner.catalogue.history import default_path as default_history_path
from runner.dashboard import cataloguepage, runview
from runner.dashboard.badge import CACHE_HEADERS, badge_entry, badge_svg, newer
from runner.dashboard.catalog import (
    DETAIL_ELSEWHERE,
    Catalog,
    RunEntry,
    latest_by_recipe,
    level_changes,
    page_params,
)
from runner.pictures.html import seconds, templates
from runner.run.progress import read_progress
from runner.run.readback import open_file, stream_file
from runner.run.rundir import RunDir, RunFileUnreadable

log = logging.getLogger("cc-ci.dashboard")
T = TypeVar("T")

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# A request still in flight this long after SIGTERM is cancelled; a read stuck in the kernel is abandoned.
STOP_WITHIN_S = 3
PAGE_FAILED = "This page could not be drawn. The server's log says why."
HTML_HEADERS = {**SECURITY_HEADERS, "Vary": "Accept"}
_TEXT_TYPES = {".log": "text/plain; charset=utf-8", ".md": "text/plain; charset=utf-8",
               ".xml": "text/plain; charset=utf-8", ".json": "application/json",
               ".png": "image/png", ".zip": "application/zip"}

ENV = templates(HERE / "templates")


def wants_html(accept: str | None) -> bool:
    """A browser's `Accept` (text/html ranked above application/json); `*/*`, none or JSON
    first keeps the JSON API, so existing clients see no change."""
    ranks: dict[str, float] = {}
    for part in (accept or "").split(","):
        kind, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        ranks[kind.lower()] = max(q, ranks.get(kind.lower(), 0.0))
    return ranks.get("text/html", 0.0) > ranks.get("application/json", 0.0)


def age(stamp: float | None, now: float | None = None) -> str:
    if stamp is None:
        return "—"
    seconds = max(0, int((now or time.time()) - stamp))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def clock(stamp: float | None) -> str:
    try:
        return "—" if stamp is None else datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):  # a clock far off (a file's mtime set by hand)
        return "—"


ENV.filters.update(age=age, clock=clock, seconds=seconds)


def render(name: str, **context: Any) -> str:
    return ENV.get_template(name).render(**context)


RUNS_PER_PAGE = 50


async def off_loop(call: Callable[..., T], *args: Any) -> T:
    """A blocking read in a worker thread, abandoned (not waited for) when the request is
    cancelled, so that a read stuck in the kernel never holds the server past SIGTERM."""
    return await anyio.to_thread.run_sync(functools.partial(call, *args), abandon_on_cancel=True)


class Dashboard:
    def __init__(self, catalog: Catalog, title: str = "cc-ci", history: Path | None = None) -> None:
        """`history`: the catalogue's history file; None: the catalogue's own default, looked up per request."""
        self.catalog = catalog
        self.title = title
        self.history = history

    # page contents, as HTML strings (also what tests render without a server)

    def index_html(self) -> str:
        entries = self.catalog.entries()
        latest = latest_by_recipe(entries)
        recipes = sorted(set(self.catalog.enrolled()) | {e.recipe for e in entries if e.recipe})
        return render("index.html", title=self.title, recipes=[(r, latest.get(r)) for r in recipes],
                      active=[(e, self._progress(e)) for e in entries if e.active])

    def recipe_html(self, recipe: str) -> str | None:
        entries = self.catalog.entries()
        history = [e for e in entries if e.recipe == recipe]
        if not history and recipe not in self.catalog.enrolled():
            return None
        return render("recipe.html", title=self.title, recipe=recipe, history=history,
                      changes=level_changes(history),
                      badge=newer(badge_entry(entries, recipe),
                                  cataloguepage.latest_result(self.history or default_history_path(), recipe)))

    def runs_html(self, page: int = 1, per_page: int = RUNS_PER_PAGE) -> str:
        entries = self.catalog.entries()
        shown = entries[(page - 1) * per_page: page * per_page]
        return render("runs.html", title=self.title, runs=shown, page=page, per_page=per_page,
                      more=page * per_page < len(entries))

    def run_html(self, run_id: str) -> str | None:
        entry = self.catalog.entry(run_id)
        if entry is None:
            return None
        run = runview.read_run_view(entry.read, entry.stages or None) if entry.read else None
        results = run.results if run else None
        return render("run.html", title=self.title, entry=entry, run=run, results=results,
                      live=self._progress(entry), timeline=runview.timeline(results) if results else [],
                      files=(files := runview.linkable_files(entry.run_dir) if entry.run_dir else []),
                      cause_logs=runview.cause_logs(files),
                      screenshots=runview.screenshots(entry.run_dir) if entry.run_dir else [],
                      browser=_browser_failures(entry.run_dir), card=RunDir.CARD_PNG,
                      detail_elsewhere=DETAIL_ELSEWHERE)

    def badge_for(self, recipe: str) -> RunEntry | None:
        """The run a recipe's badge shows: its newest finished default-branch or catalogue run in
        the run dirs, or its latest result in the catalogue's history when that is newer or the
        same run (a catalogue run whose dir is not here: the bridge on Drone, another runs dir)."""
        ran = badge_entry(self.catalog.entries(), recipe)
        return newer(ran, cataloguepage.latest_result(self.history or default_history_path(), recipe))

    def catalogue_view(self, columns: int = cataloguepage.DEFAULT_COLUMNS) -> cataloguepage.CatalogueView:
        return cataloguepage.read_view(self.history or default_history_path(), columns)

    def catalogue_html(self, columns: int = cataloguepage.DEFAULT_COLUMNS) -> str:
        return render("catalogue.html", title=self.title, view=self.catalogue_view(columns),
                      how_to_start=cataloguepage.HOW_TO_START)

    def live(self, run_id: str) -> dict[str, Any] | None:
        entry = self.catalog.entry(run_id)
        if entry is None:
            return None
        progress = self._progress(entry)
        return {"state": entry.state, "verdict": entry.verdict, **(progress or {})}

    def _progress(self, entry: RunEntry) -> dict[str, Any] | None:
        if entry.state != "running" or entry.run_dir is None:
            return None
        return read_progress(entry.run_dir, entry.stages).as_dict()

    # HTTP

    def routes(self, with_run_json: bool = False) -> list[Route | Mount]:
        """`with_run_json=False`: `/runs` and `/runs/<id>` are left to the caller (the bridge
        negotiates them with its JSON API and calls `page_response`)."""
        routes: list[Route | Mount] = [
            Route("/", self._index, methods=["GET"]),
            Route("/recipes/{recipe}", self._recipe, methods=["GET"]),
            Route("/runs/{run_id}/live", self._live, methods=["GET"]),
            Route("/runs/{run_id}/files/{name:path}", self._file, methods=["GET"]),
            Route("/badge/{recipe}.svg", self._badge, methods=["GET"]),
            Route("/catalogue", self._catalogue, methods=["GET"]),
            Route("/catalogue.json", self._catalogue_json, methods=["GET"]),
            # browsers ask for it when showing a non-HTML document (a badge, a log)
            Route("/favicon.ico", _favicon, methods=["GET"]),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]
        if with_run_json:
            routes += [Route("/runs", self._runs, methods=["GET"]),
                       Route("/runs/{run_id}", self._run, methods=["GET"])]
        return routes

    async def page_response(self, name: str, arg: str | None = None,
                            query: dict[str, str] | None = None) -> Response:
        if name == "runs":
            params = page_params(query or {}, default_per_page=RUNS_PER_PAGE)
            if isinstance(params, str):
                return _html(render("missing.html", title="cc-ci", heading="Bad request", reason=params), 400)
            body: str | None = await off_loop(self.runs_html, *params)
        else:
            body = await off_loop(self.run_html, arg or "")
        if body is None:
            return _not_found("no such run")
        return _html(body)

    async def _index(self, request: Request) -> Response:
        return _html(await off_loop(self.index_html))

    async def _catalogue(self, request: Request) -> Response:
        columns = cataloguepage.columns_param(request.query_params.get("runs"))
        if isinstance(columns, str):
            return _html(render("missing.html", title="cc-ci", heading="Bad request", reason=columns), 400)
        return _html(await off_loop(self.catalogue_html, columns))

    async def _catalogue_json(self, request: Request) -> Response:
        columns = cataloguepage.columns_param(request.query_params.get("runs"))
        if isinstance(columns, str):
            return JSONResponse({"error": columns}, status_code=400)
        view = await off_loop(self.catalogue_view, columns)
        return JSONResponse(view.as_json(), status_code=503 if view.state == cataloguepage.UNREADABLE else 200,
                            headers={"Cache-Control": "no-store"})

    async def _recipe(self, request: Request) -> Response:
        body = await off_loop(self.recipe_html, request.path_params["recipe"])
        if body is None:
            return _not_found("no runs of that recipe and it is not enrolled")
        return _html(body)

    async def _runs(self, request: Request) -> Response:
        return await self.page_response("runs", query=dict(request.query_params))

    async def _run(self, request: Request) -> Response:
        return await self.page_response("run", request.path_params["run_id"])

    async def _live(self, request: Request) -> Response:
        data = await off_loop(self.live, request.path_params["run_id"])
        if data is None:
            return JSONResponse({"error": "no such run"}, status_code=404)
        return JSONResponse(data, headers={"Cache-Control": "no-store"})

    async def _file(self, request: Request) -> Response:
        entry = await off_loop(self.catalog.entry, request.path_params["run_id"])
        name = request.path_params["name"]
        if entry is None or entry.run_dir is None:
            return _not_found("no such run")
        if name == runview.MANIFEST and (manifest := await off_loop(runview.backup_manifest, entry.run_dir)):
            return JSONResponse(manifest, headers=SECURITY_HEADERS)
        fd = await off_loop(_open_linkable, entry.run_dir, name)
        if fd is None:
            return _not_found("no such file, or not one a page shows")
        handle = os.fdopen(fd, "rb")  # a file object now: closed even if the stream never starts
        size = os.fstat(fd).st_size
        return StreamingResponse(stream_file(handle, size), headers={**SECURITY_HEADERS, "Content-Length": str(size)},
                                 media_type=_TEXT_TYPES.get(Path(name).suffix, "application/octet-stream"))

    async def _badge(self, request: Request) -> Response:
        entry = await off_loop(self.badge_for, request.path_params["recipe"])
        return Response(badge_svg(entry), media_type="image/svg+xml", headers=CACHE_HEADERS)


FAVICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
           '<rect width="16" height="16" rx="3" fill="#2e7d32"/></svg>')


async def _favicon(request: Request) -> Response:
    return Response(FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})


def _open_linkable(run_dir: Path, name: str) -> int | None:
    """The file a page may serve, opened component by component without following a symlink
    (a symlinked `screenshots/` is refused, not followed); None when it may not be served."""
    if runview.linkable_file(run_dir, name) is None:
        return None
    try:
        return open_file(run_dir, name)
    except RunFileUnreadable:
        return None


def _browser_failures(run_dir: Path | None) -> list[dict[str, str | None]]:
    if run_dir is None:
        return []
    pngs = runview.listing(run_dir, RunDir.browser_failure_name("*", "png"))
    zips = set(runview.listing(run_dir, RunDir.browser_failure_name("*", "zip")))
    return [{"test": Path(png).stem, "png": png,
             "trace": trace if (trace := png.removesuffix(".png") + ".zip") in zips else None}
            for png in pngs]


def _html(body: str, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="text/html; charset=utf-8", headers=HTML_HEADERS)


def _not_found(reason: str) -> Response:
    return _html(render("missing.html", title="cc-ci", heading="Not found", reason=reason), 404)


async def page_failed(request: Request, err: Exception) -> Response:
    """Any error a page did not expect: a fixed sentence, never the exception's text (it may name
    server paths); the traceback goes to the log."""
    log.error("%s %s failed", request.method, request.url.path, exc_info=err)
    return _html(render("missing.html", title="cc-ci", heading="Error", reason=PAGE_FAILED), 500)


class secured:  # noqa: N801 - an ASGI middleware, used like a function
    """Every response (pages, files, badges, JSON, static files, errors) gets the security headers
    it does not set itself: `nosniff`, the CSP with `frame-ancestors 'none'`, no referrer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()
                                        if k.lower().encode() not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)


def bounded_server(app: ASGIApp, **config: Any) -> uvicorn.Server:
    """uvicorn that stops within a few seconds of SIGTERM however its requests stand: one still
    running `STOP_WITHIN_S` after the signal is cancelled (and its stuck read abandoned)."""
    return uvicorn.Server(uvicorn.Config(app, timeout_graceful_shutdown=STOP_WITHIN_S, **config))


def serve_app(catalog: Catalog, history: Path | None = None) -> Starlette:
    """`cc-ci serve`: the pages alone, over run dirs (and the catalogue's history)."""
    return Starlette(routes=Dashboard(catalog, history=history).routes(with_run_json=True),
                     exception_handlers={Exception: page_failed}, middleware=[Middleware(secured)])
