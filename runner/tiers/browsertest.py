"""Browser tests for the custom tier: a pytest plugin (tests/conftest.py loads it) giving a
maintainer's test a Playwright `page` already pointed at the app.

    def test_front_page(page):
        page.goto("/")                     # http://<app domain>/
        assert page.title() == "My app"

The page's base URL is the app's domain and every request goes through the `http` fixture's
reach (runner/pictures/reachproxy.py), so Host routing is the app's own. A browser test that
fails leaves `browser/<test>.png` (the page as it was) and `browser/<test>.zip` (a Playwright
trace: `playwright show-trace <zip>`) in the run dir, linked from the run's dashboard page.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from runner.pictures.browser import chromium
from runner.pictures.reachproxy import reach_proxy
from runner.run.rundir import RunDir

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

_PER_CONTEXT = "http://per-context"  # Chromium honours a context's proxy only when launched with one
_FAILED_KEY = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed and report.when in ("setup", "call"):
        item.stash[_FAILED_KEY] = True
    return report


_ahead: tuple[contextlib.ExitStack, Browser] | None = None


def launch_ahead() -> None:
    """Launch the session's Chromium before the tier's job arrives (the warm tier process does,
    for a tier whose tests take a `page`); when it cannot, the fixture tries and reports."""
    global _ahead
    stack = contextlib.ExitStack()
    try:
        _ahead = stack, stack.enter_context(chromium(proxy=_PER_CONTEXT))
    except Exception:  # noqa: BLE001 - the fixture launches it again, and reports why it cannot
        stack.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """The session's headless Chromium (Debian's, through Playwright): the one launched ahead, if any."""
    global _ahead
    if _ahead is not None:
        (stack, launched), _ahead = _ahead, None
        with stack:
            yield launched
        return
    with chromium(proxy=_PER_CONTEXT) as launched:
        yield launched


@pytest.fixture
def page(request: pytest.FixtureRequest, browser: Browser, http: httpx.Client, app: Any) -> Iterator[Page]:
    """A fresh page (its own cookies) whose base URL is the app: `page.goto("/")`."""
    with reach_proxy(http, app.domain) as proxy:
        context = browser.new_context(base_url=f"http://{app.domain}", proxy={"server": proxy},
                                      ignore_https_errors=True)
        context.set_default_timeout(15_000)
        context.tracing.start(screenshots=True, snapshots=True)
        opened = context.new_page()
        try:
            yield opened
        finally:
            if request.node.stash.get(_FAILED_KEY, False):
                _keep_failure(context, opened, app.run_files, request.node.name)
            else:
                context.tracing.stop()
            context.close()


def _keep_failure(context: Any, opened: Page, run_dir: RunDir, test: str) -> None:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", test).strip("._-")[:120] or "test"
    png = run_dir.browser_failure(name, "png")
    png.parent.mkdir(parents=True, exist_ok=True)
    try:
        opened.screenshot(path=str(png), full_page=True)
    finally:
        context.tracing.stop(path=str(run_dir.browser_failure(name, "zip")))
