"""Pictures a run takes of its app: after install and after upgrade (the summary card is drawn
after the verdict by its own process, runner/dashboard/card.py).

One headless Chromium per run, launched in its own thread when the lifecycle starts (while the
install op waits on docker): a screenshot is taken while its tier's pytest runs, and the tier
waits for it only at its end, before a later op or teardown changes the app. Nothing here fails
a run: a page that never loads, or a machine without Chromium, is recorded with the reason
(`screenshots/<when>.json`) and the run goes on.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from runner.harness.browser import chromium
from runner.harness.fileio import write_text_atomic
from runner.harness.reachproxy import reach_proxy

if TYPE_CHECKING:
    from playwright.sync_api import Browser

SCREENSHOTS = "screenshots"
PAGE_TIMEOUT_S = 15.0  # a page that has not loaded by then is recorded as never loaded
VIEWPORT: Any = {"width": 1280, "height": 800}  # playwright's ViewportSize
# a context's proxy is only honoured when the browser was launched with one (Chromium)
_PER_CONTEXT = "http://per-context"
T = TypeVar("T")


class Camera:
    """A browser in a worker thread (Playwright's sync API belongs to the thread that started it);
    `submit` runs a job there and returns its Future."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[Callable[[Browser], Any], Future[Any]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="ccci-camera", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        try:
            with chromium(proxy=_PER_CONTEXT) as browser:
                while (job := self._jobs.get()) is not None:
                    self._run(job, browser)
        except Exception as err:  # no browser: every job says why
            while (job := self._jobs.get()) is not None:
                job[1].set_exception(err)

    @staticmethod
    def _run(job: tuple[Callable[[Browser], Any], Future[Any]], browser: Browser) -> None:
        work, future = job
        try:
            future.set_result(work(browser))
        except Exception as err:
            future.set_exception(err)

    def submit(self, work: Callable[[Browser], T]) -> Future[T]:
        future: Future[T] = Future()
        self._jobs.put((work, future))
        return future

    def close(self, timeout_s: float = 10.0) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=timeout_s)


def shoot_app(browser: Browser, client: httpx.Client, domain: str, dest: Path) -> None:
    """Load `http://<domain>/` through the app's reach and save a PNG at `dest`."""
    with reach_proxy(client, domain) as proxy:
        context = browser.new_context(proxy={"server": proxy}, viewport=VIEWPORT, ignore_https_errors=True)
        try:
            page = context.new_page()
            page.goto(f"http://{domain}/", timeout=PAGE_TIMEOUT_S * 1000, wait_until="load")
            dest.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(dest))
        finally:
            context.close()


def record_screenshot(run_dir: Path, when: str, domain: str, error: str | None) -> None:
    """`screenshots/<when>.json`: where the browser went and, for a page that never loaded, why."""
    record = {"when": when, "url": f"http://{domain}/", "png": None if error else f"{when}.png", "error": error}
    write_text_atomic(run_dir / SCREENSHOTS / f"{when}.json", json.dumps(record, indent=2) + "\n")


@contextlib.contextmanager
def screenshot_during(camera: Camera | None, open_client: Callable[[], httpx.Client], domain: str,
                      run_dir: Path, when: str, say: Callable[[str], None]) -> Iterator[None]:
    """Take the app's screenshot while the block (its tier) runs; record it after."""
    if camera is None:
        yield
        return
    with contextlib.ExitStack() as stack:
        try:
            client = stack.enter_context(open_client())
        except Exception as err:  # no reach to the app: the tier will say more
            yield
            _record(run_dir, when, domain, _reason(err), say)
            return
        dest = run_dir / SCREENSHOTS / f"{when}.png"
        future = camera.submit(lambda browser: shoot_app(browser, client, domain, dest))
        yield
        try:
            future.result(timeout=PAGE_TIMEOUT_S + 10)
            error = None
        except Exception as err:
            error = _reason(err)
        _record(run_dir, when, domain, error, say)


def _record(run_dir: Path, when: str, domain: str, error: str | None, say: Callable[[str], None]) -> None:
    record_screenshot(run_dir, when, domain, error)
    say(f"screenshot after {when}: " + (f"{SCREENSHOTS}/{when}.png" if error is None
                                         else f"the page never loaded ({error}); the run goes on"))


def _reason(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
