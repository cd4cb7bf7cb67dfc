"""Pictures a run takes of its app: after install and after upgrade (the summary card is drawn
after the verdict by its own process, runner/pictures/card.py).

One headless Chromium per run, in its own thread, launched when a picture first needs it: the
install's, once the app answers HTTP while the op still waits on its health checks (not while the
engine starts the containers, which a launch slowed). A screenshot is taken while its tier's pytest runs, and the tier
waits for it only at its end, before a later op or teardown changes the app. Nothing here fails
a run: a page that never loads, or a machine without Chromium, is recorded with the reason
(`screenshots/<when>.json`) and the run goes on.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from runner.pictures.browser import chromium
from runner.pictures.reachproxy import reach_proxy
from runner.plumbing.fileio import write_text_atomic
from runner.plumbing.priority import unnice
from runner.run.rundir import RunDir

if TYPE_CHECKING:
    import httpx  # loaded while the first op waits on docker (orchestrator), not at start-up
    from playwright.sync_api import Browser

PAGE_TIMEOUT_S = 15.0  # a page that has not loaded by then is recorded as never loaded
VIEWPORT: Any = {"width": 1280, "height": 800}  # playwright's ViewportSize
# a context's proxy is only honoured when the browser was launched with one (Chromium)
_PER_CONTEXT = "http://per-context"
_NICE = 10
_RETRY_S = 0.3  # between tries of a screenshot taken while the app comes up
_LOGIN_CHALLENGE = "net::ERR_INVALID_AUTH_CREDENTIALS"  # Playwright's error for a 401 it has no credentials for
T = TypeVar("T")


Launch = Callable[[], "Browser"]  # the camera's browser, launched at the first call


class Camera:
    """A browser in a worker thread (Playwright's sync API belongs to the thread that started it);
    `submit` runs a job there and returns its Future."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[Callable[[Launch], Any], Future[Any]] | None] = queue.Queue()
        self._closing = False
        self._tid: int | None = None  # the camera thread's, once it runs
        self._thread = threading.Thread(target=self._work, name="ccci-camera", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        # The browser (Playwright's driver and Chromium inherit this thread's priority) runs behind
        # the deploy and the tiers for the CPU, never ahead of them; it is launched when a job
        # first needs it (`launch`): the install's screenshot asks once the app answers HTTP, not
        # while the engine starts its containers (a launch then slowed the deploy by ~0.15 s).
        self._tid = threading.get_native_id()
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, self._tid, _NICE)
        with contextlib.ExitStack() as stack:
            launched: list[Browser] = []
            failed: list[Exception] = []

            def launch() -> Browser:
                if failed:  # no browser on this machine: every job says why
                    raise failed[0]
                if not launched:
                    try:
                        launched.append(stack.enter_context(chromium(proxy=_PER_CONTEXT)))
                    except Exception as err:
                        failed.append(err)
                        raise
                return launched[0]

            while (job := self._jobs.get()) is not None:
                work, future = job
                try:
                    future.set_result(work(launch))
                except Exception as err:
                    future.set_exception(err)

    def submit(self, work: Callable[[Launch], T]) -> Future[T]:
        """Run `work(launch)` in the camera's thread: `launch()` gives the browser, launching it the
        first time."""
        future: Future[T] = Future()
        self._jobs.put((work, future))
        return future

    def hurry(self) -> None:
        """The run now waits on the browser (a tier's end waits for its screenshot): the camera
        thread, Playwright's driver and Chromium back to the run's own priority, so that on a
        loaded machine a browser niced behind the deploy does not hold the run up behind
        everyone else's work."""
        alive = self._tid is not None and self._thread.is_alive()  # an ended thread's id may be anyone's now
        unnice([self._tid] if alive and self._tid is not None else [], os.getpid())

    def close(self, timeout_s: float = 10.0) -> None:
        """Ask the browser to close (once); wait up to `timeout_s` for it (0: not at all)."""
        if not self._closing:
            self._closing = True
            self._jobs.put(None)
        if timeout_s:
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


def shoot_app_when_up(launch: Launch, open_client: Callable[[], httpx.Client], domain: str, dest: Path,
                      stop: threading.Event, deadline_s: float) -> None:
    """`shoot_app` as soon as the app answers below 500, tried while the op still waits on docker
    (the first deploy: whatever answers is the installed app); gives up at `stop` or the deadline.
    The browser is launched (`launch`) once the app answers a plain request at all."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            with open_client() as client, reach_proxy(client, domain) as proxy:
                # a plain request first: the browser (a renderer process per try, CPU the deploy
                # needs on a small machine) goes only to an app that answers HTTP at all; its
                # body (the app's, any size) is never read
                with client.stream("GET", "/"):
                    pass
                context = launch().new_context(proxy={"server": proxy}, viewport=VIEWPORT, ignore_https_errors=True)
                try:
                    page = context.new_page()
                    answer = page.goto(f"http://{domain}/", timeout=PAGE_TIMEOUT_S * 1000, wait_until="load")
                    if answer is None or answer.status < 500:
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        page.screenshot(path=str(dest))
                        return
                    failure: Exception = RuntimeError(f"the app answered HTTP {answer.status}")
                finally:
                    context.close()
        except Exception as err:  # no container yet, nothing listening yet: try again
            if asks_for_login(err):
                raise  # an answer: the app is up behind a login that the browser has no credentials for
            failure = err
        if stop.is_set() or time.monotonic() > deadline:
            raise failure
        stop.wait(_RETRY_S)


def asks_for_login(err: BaseException) -> bool:
    """Chromium ended the page at the app's login challenge (HTTP 401 + WWW-Authenticate): with no
    credentials to give, it shows no page, however often it is asked."""
    return _LOGIN_CHALLENGE in str(err)


def record_screenshot(run_dir: RunDir, when: str, domain: str, error: str | None) -> None:
    """`screenshots/<when>.json`: where the browser went and, for a page that never loaded, why."""
    record = {"when": when, "url": f"http://{domain}/", "png": None if error else f"{when}.png", "error": error}
    write_text_atomic(run_dir.screenshot(when, "json"), json.dumps(record, indent=2) + "\n")


@contextlib.contextmanager
def screenshot_during(camera: Camera | None, open_client: Callable[[], httpx.Client], domain: str,
                      run_dir: RunDir, when: str, say: Callable[[str], None],
                      taken: Future[None] | None = None) -> Iterator[None]:
    """Take the app's screenshot while the block (its tier) runs, or let the block run while one
    already `taken` (started while the op waited on docker) finishes; record it after."""
    if taken is not None:
        yield
        _hurry(camera, taken)
        _record(run_dir, when, domain, _outcome(taken), say)
        return
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
        dest = run_dir.screenshot(when)
        future = camera.submit(lambda launch: shoot_app(launch(), client, domain, dest))
        yield
        _hurry(camera, future)
        _record(run_dir, when, domain, _outcome(future), say)


def _hurry(camera: Camera | None, shot: Future[None]) -> None:
    if camera is not None and not shot.done():
        camera.hurry()


def _outcome(future: Future[None]) -> str | None:
    """None once the screenshot is saved; else why there is none."""
    try:
        future.result(timeout=PAGE_TIMEOUT_S + 10)
        return None
    except Exception as err:
        return _reason(err)


def _record(run_dir: RunDir, when: str, domain: str, error: str | None, say: Callable[[str], None]) -> None:
    record_screenshot(run_dir, when, domain, error)
    say(f"screenshot after {when}: " + (RunDir.screenshot_name(when) if error is None
                                         else f"the page never loaded ({error}); the run goes on"))


def _reason(err: BaseException) -> str:
    if asks_for_login(err):
        return "the app asks for a login (HTTP 401), which the browser has no credentials for"
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
