"""The install's screenshot is tried while the app comes up, given up at once when the app's
answer is one the browser can never get past (a login challenge), and ended before teardown when
no tier waited for it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from runner.errors import InfraError
from runner.ops import LIFECYCLE
from runner.pictures.browser import chromium
from runner.pictures.camera import Camera, asks_for_login, shoot_app_when_up, unnice
from runner.pictures.shots import Pictures
from runner.run.rundir import RunDir

if TYPE_CHECKING:
    from playwright.sync_api import Browser

DOMAIN = "demo.ccci.test"
PAGE = b"<!doctype html><html><body style='background:#c5e4f4'><h1>demo</h1></body></html>"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium(proxy="http://per-context") as launched:  # as the camera launches it
        yield launched


def app(answers: list[httpx.Response]) -> Callable[[], httpx.Client]:
    """A client whose app gives `answers` in turn, then the last one for ever."""
    def handle(request: httpx.Request) -> httpx.Response:
        return answers.pop(0) if len(answers) > 1 else answers[0]
    return lambda: httpx.Client(transport=httpx.MockTransport(handle), base_url=f"http://{DOMAIN}")


def test_a_front_page_behind_a_login_is_given_up_at_once(browser: Browser, tmp_path: Path) -> None:
    login = httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="demo"'}, html="login first")
    started = time.monotonic()
    with pytest.raises(Exception) as raised:
        shoot_app_when_up(lambda: browser, app([login]), DOMAIN, tmp_path / "install.png", threading.Event(), deadline_s=30)
    assert asks_for_login(raised.value), raised.value
    assert time.monotonic() - started < 10  # one answer, not tries until the deadline
    assert not (tmp_path / "install.png").exists()


def test_an_app_still_coming_up_is_tried_again_until_it_answers(browser: Browser, tmp_path: Path) -> None:
    down = httpx.Response(502, text="no task yet")
    shoot_app_when_up(lambda: browser, app([down, down, httpx.Response(200, content=PAGE)]), DOMAIN,
                      tmp_path / "install.png", threading.Event(), deadline_s=30)
    assert (tmp_path / "install.png").read_bytes().startswith(b"\x89PNG")


def test_the_browser_is_launched_only_once_the_app_answers_http(browser: Browser, tmp_path: Path) -> None:
    """While the engine starts the app's containers nothing answers: launching Chromium then only
    competed with the deploy for the CPU. The camera launches it at the first answer, any answer."""
    tries: list[float] = []
    launches: list[int] = []

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def unreachable_then_up() -> httpx.Client:
        tries.append(time.monotonic())
        if len(tries) == 1:
            raise InfraError("no running container yet")
        if len(tries) == 2:  # its container runs, nothing listens yet
            return httpx.Client(transport=httpx.MockTransport(refused), base_url=f"http://{DOMAIN}")
        return app([httpx.Response(200, content=PAGE)])()

    def launch() -> Browser:
        launches.append(len(tries))
        return browser

    shoot_app_when_up(launch, unreachable_then_up, DOMAIN, tmp_path / "install.png", threading.Event(), deadline_s=30)
    assert launches == [3]  # not before the try that found the app answering
    assert (tmp_path / "install.png").read_bytes().startswith(b"\x89PNG")


def test_the_plain_request_never_reads_the_apps_body(browser: Browser, tmp_path: Path) -> None:
    """The app is the PR's: its front page may be endless. The request before the browser only
    asks whether anything answers."""
    sent: list[int] = []

    def endless() -> Iterator[bytes]:  # 64 MiB stands in for endless: a reader of it fails, not hangs
        for _ in range(1024):
            sent.append(1)
            yield b"x" * 65536

    answers = iter([httpx.Response(200, content=endless())])

    def handle(request: httpx.Request) -> httpx.Response:
        return next(answers, None) or httpx.Response(200, content=PAGE)

    started = time.monotonic()
    shoot_app_when_up(lambda: browser, lambda: httpx.Client(transport=httpx.MockTransport(handle),
                                                            base_url=f"http://{DOMAIN}"),
                      DOMAIN, tmp_path / "install.png", threading.Event(), deadline_s=30)
    assert len(sent) <= 1  # not a byte past what the transport had in hand
    assert time.monotonic() - started < 15
    assert (tmp_path / "install.png").read_bytes().startswith(b"\x89PNG")


def test_the_camera_launches_no_browser_for_a_job_that_does_not_ask_for_one(monkeypatch: pytest.MonkeyPatch) -> None:
    launched: list[str | None] = []

    @contextlib.contextmanager
    def chromium_stand_in(proxy: str | None = None) -> Iterator[object]:
        launched.append(proxy)
        yield object()

    monkeypatch.setattr("runner.pictures.camera.chromium", chromium_stand_in)
    camera = Camera()
    try:
        assert camera.submit(lambda launch: "no picture").result(timeout=10) == "no picture"
        assert launched == []  # the thread runs, the browser is not launched ahead
        first = camera.submit(lambda launch: launch()).result(timeout=10)
        assert camera.submit(lambda launch: launch()).result(timeout=10) is first  # once, then the same
        assert launched == ["http://per-context"]
    finally:
        camera.close()


def test_settle_ends_a_first_deploy_screenshot_that_no_tier_waited_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("runner.pictures.shots.start_card", lambda run_dir: run_dir.card_png)
    pictures = Pictures(RunDir(tmp_path), LIFECYCLE)
    pictures.start(["install"])
    down = httpx.Response(502, text="no task yet")  # the install failed: it never comes up
    asked = threading.Event()

    def handle(request: httpx.Request) -> httpx.Response:
        asked.set()
        return down
    pictures.while_deploying("install", DOMAIN, lambda: httpx.Client(transport=httpx.MockTransport(handle),
                                                                     base_url=f"http://{DOMAIN}"), deadline_s=120)
    assert asked.wait(60), "the browser never asked the app"  # it is up and trying
    started = time.monotonic()
    pictures.settle()  # the orchestrator's call before teardown
    assert time.monotonic() - started < 5  # not the deploy deadline, nor the 15 s page wait
    pictures.finish({}, lambda line: None)
    assert time.monotonic() - started < 8  # the browser closed at once
    assert not RunDir(tmp_path).screenshot("install").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="raising a priority again needs root (CAP_SYS_NICE)")
def test_a_browser_the_tier_waits_for_is_put_back_to_the_runs_priority() -> None:
    """Chromium is niced behind the deploy; once a tier's end waits for its screenshot, every
    thread of the browser's process tree runs at the run's priority again (a loaded machine
    otherwise holds the tier up for seconds)."""
    niced = subprocess.Popen(["sh", "-c", "sleep 30 & wait"], preexec_fn=lambda: os.nice(10))
    tree = [niced.pid]
    try:
        deadline = time.monotonic() + 5
        while len(tree := _tree(niced.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert {os.getpriority(os.PRIO_PROCESS, pid) for pid in tree} == {10}
        unnice([], os.getpid())
        assert {os.getpriority(os.PRIO_PROCESS, pid) for pid in tree} == {os.getpriority(os.PRIO_PROCESS, 0)}
    finally:
        for pid in reversed(tree):  # the sleep, then its shell
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        niced.wait()


def _tree(pid: int) -> list[int]:
    """`pid` and its children (the shell and its sleep)."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [pid, *map(int, children)]
