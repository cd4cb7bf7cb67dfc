"""The dashboard's HTTP side: `/`, `/recipes/<recipe>`, `/runs`, `/runs/<id>` (+ its files and a
live JSON for the page to poll), `/badge/<recipe>.svg`. Server-rendered (Jinja2, autoescaped),
readable without JavaScript; the one script only refreshes the live part of a running run's page.

A Content-Security-Policy without inline scripts backs the escaping: even text that escaped it
could not run. Used by the bridge (webhook.py mounts these routes) and by `cc-ci serve`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from runner.bridge.progress import read_progress
from runner.dashboard import runview
from runner.dashboard.badge import CACHE_HEADERS, badge_entry, badge_svg
from runner.dashboard.catalog import Catalog, RunEntry, latest_by_recipe, level_changes

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
HTML_HEADERS = {**SECURITY_HEADERS, "Vary": "Accept"}
_TEXT_TYPES = {".log": "text/plain; charset=utf-8", ".md": "text/plain; charset=utf-8",
               ".xml": "text/plain; charset=utf-8", ".json": "application/json",
               ".png": "image/png", ".zip": "application/zip"}

ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                         autoescape=True, undefined=jinja2.ChainableUndefined,
                         trim_blocks=True, lstrip_blocks=True)


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
    return "—" if stamp is None else datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f}s" if value < 120 else f"{int(value // 60)}m{int(value % 60):02d}s"


ENV.filters.update(age=age, clock=clock, seconds=seconds)


def render(name: str, **context: Any) -> str:
    return ENV.get_template(name).render(**context)


class Dashboard:
    def __init__(self, catalog: Catalog, title: str = "cc-ci") -> None:
        self.catalog = catalog
        self.title = title

    # page contents, as HTML strings (also what tests render without a server)

    def index_html(self) -> str:
        entries = self.catalog.entries()
        latest = latest_by_recipe(entries)
        recipes = sorted(set(self.catalog.enrolled()) | {e.recipe for e in entries})
        return render("index.html", title=self.title, recipes=[(r, latest.get(r)) for r in recipes],
                      active=[(e, self._progress(e)) for e in entries if e.active])

    def recipe_html(self, recipe: str) -> str | None:
        entries = self.catalog.entries()
        history = [e for e in entries if e.recipe == recipe]
        if not history and recipe not in self.catalog.enrolled():
            return None
        return render("recipe.html", title=self.title, recipe=recipe, history=history,
                      changes=level_changes(history), badge=badge_entry(entries, recipe))

    def runs_html(self) -> str:
        return render("runs.html", title=self.title, runs=self.catalog.entries())

    def run_html(self, run_id: str) -> str | None:
        entry = self.catalog.entry(run_id)
        if entry is None:
            return None
        run = runview.read_run_view(entry.run_dir, entry.stages or None) if entry.run_dir else None
        results = run.results if run else None
        return render("run.html", title=self.title, entry=entry, run=run, results=results or {},
                      live=self._progress(entry), timeline=runview.timeline(results) if results else [],
                      files=runview.linkable_files(entry.run_dir) if entry.run_dir else [],
                      screenshots=runview.screenshots(entry.run_dir) if entry.run_dir else [],
                      browser=_browser_failures(entry.run_dir))

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
            # browsers ask for it when showing a non-HTML document (a badge, a log)
            Route("/favicon.ico", _favicon, methods=["GET"]),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]
        if with_run_json:
            routes += [Route("/runs", self._runs, methods=["GET"]),
                       Route("/runs/{run_id}", self._run, methods=["GET"])]
        return routes

    async def page_response(self, name: str, arg: str | None = None) -> Response:
        if name == "runs":
            body: str | None = await run_in_threadpool(self.runs_html)
        else:
            body = await run_in_threadpool(self.run_html, arg or "")
        if body is None:
            return _not_found("no such run")
        return Response(body, media_type="text/html; charset=utf-8", headers=HTML_HEADERS)

    async def _index(self, request: Request) -> Response:
        body = await run_in_threadpool(self.index_html)
        return Response(body, media_type="text/html; charset=utf-8", headers=HTML_HEADERS)

    async def _recipe(self, request: Request) -> Response:
        body = await run_in_threadpool(self.recipe_html, request.path_params["recipe"])
        if body is None:
            return _not_found("no runs of that recipe and it is not enrolled")
        return Response(body, media_type="text/html; charset=utf-8", headers=HTML_HEADERS)

    async def _runs(self, request: Request) -> Response:
        return await self.page_response("runs")

    async def _run(self, request: Request) -> Response:
        return await self.page_response("run", request.path_params["run_id"])

    async def _live(self, request: Request) -> Response:
        data = await run_in_threadpool(self.live, request.path_params["run_id"])
        if data is None:
            return JSONResponse({"error": "no such run"}, status_code=404)
        return JSONResponse(data, headers={"Cache-Control": "no-store"})

    async def _file(self, request: Request) -> Response:
        entry = await run_in_threadpool(self.catalog.entry, request.path_params["run_id"])
        name = request.path_params["name"]
        if entry is None or entry.run_dir is None:
            return _not_found("no such run")
        if name == runview.MANIFEST and (manifest := runview.backup_manifest(entry.run_dir)):
            return JSONResponse(manifest, headers=SECURITY_HEADERS)
        path = runview.linkable_file(entry.run_dir, name)
        if path is None:
            return _not_found("no such file, or not one a page shows")
        return FileResponse(path, media_type=_TEXT_TYPES.get(path.suffix, "application/octet-stream"),
                            headers=SECURITY_HEADERS)

    async def _badge(self, request: Request) -> Response:
        recipe = request.path_params["recipe"]
        entries = await run_in_threadpool(self.catalog.entries)
        return Response(badge_svg(badge_entry(entries, recipe)), media_type="image/svg+xml",
                        headers=CACHE_HEADERS)


FAVICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
           '<rect width="16" height="16" rx="3" fill="#2e7d32"/></svg>')


async def _favicon(request: Request) -> Response:
    return Response(FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})


def _browser_failures(run_dir: Path | None) -> list[dict[str, str | None]]:
    if run_dir is None:
        return []
    folder = run_dir / runview.BROWSER_FAILURES
    return [{"test": png.stem, "png": f"{runview.BROWSER_FAILURES}/{png.name}",
             "trace": f"{runview.BROWSER_FAILURES}/{png.stem}.zip" if png.with_suffix(".zip").is_file() else None}
            for png in sorted(folder.glob("*.png"))]


def _not_found(reason: str) -> Response:
    body = render("missing.html", title="cc-ci", reason=reason)
    return Response(body, status_code=404, media_type="text/html; charset=utf-8", headers=HTML_HEADERS)


def serve_app(catalog: Catalog) -> Starlette:
    """`cc-ci serve`: the pages alone, over run dirs."""
    return Starlette(routes=Dashboard(catalog).routes(with_run_json=True))
