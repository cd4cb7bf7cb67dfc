"""What a run pictures, and when: the app after each op that declares itself pictured (install
and upgrade; `OpSpec.pictured`, read through the `Lifecycle` the run hands in) while their tiers run,
and the summary card once the verdict is written, drawn by a detached process the run does not
wait for (`card.json` says whether it is being made or was made). The orchestrator's only contact
with the camera; `CCCI_PICTURES=0` turns it off (a machine without Chromium records why and goes on)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.pictures.camera import (
    PAGE_TIMEOUT_S,
    Camera,
    screenshot_during,
    shoot_app_when_up,
)
from runner.pictures.card import record_card
from runner.run.lifecycle import Lifecycle
from runner.run.rundir import RunDir

if TYPE_CHECKING:
    import httpx  # loaded while the first op waits on docker (orchestrator), not at start-up

PICTURES_VAR = "CCCI_PICTURES"
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # where `python -m runner...` finds the package


class Pictures:
    def __init__(self, run_dir: RunDir, lifecycle: Lifecycle, enabled: bool = True) -> None:
        self.run_dir = run_dir
        self._pictured, self._early_ops = lifecycle.pictured, lifecycle.pictured_early  # as the ops declare
        self.enabled = enabled and os.environ.get(PICTURES_VAR, "1") != "0"
        self._camera: Camera | None = None
        self._early: dict[str, Future[None]] = {}  # op -> its screenshot, started while docker waited
        self._stop = threading.Event()
        self._last: str | None = None  # the run's last pictured op

    def start(self, ops: Iterable[str]) -> None:
        """Start the camera's thread (call when the lifecycle starts); its browser launches when a
        picture first needs it. `ops`: the run's ops, so that the browser closes once the last
        picture is taken."""
        self._last = next((op for op in reversed(list(ops)) if op in self._pictured), None)
        if self.enabled and self._camera is None and self._last is not None:
            self._camera = Camera()

    def while_deploying(self, op: str, domain: str, open_client: Callable[[], httpx.Client],
                        deadline_s: float) -> None:
        """The first deploy's screenshot, taken as soon as the app answers while the op still
        waits on docker (for its health checks), so that its tier does not wait for the browser."""
        if self._camera is not None and op in self._early_ops:
            dest = self.run_dir.screenshot(op)
            self._early[op] = self._camera.submit(
                lambda launch: shoot_app_when_up(launch, open_client, domain, dest, self._stop, deadline_s))

    def settle(self) -> None:
        """Before teardown: a first-deploy screenshot that no tier waited for (its op failed) stops
        trying and ends while the app is still there to answer. Torn down under it, a request in
        flight waits for its connection to time out, and the run's exit waits for the browser."""
        self._stop.set()
        if self._camera is not None and not all(future.done() for future in self._early.values()):
            self._camera.hurry()  # the run waits on the browser now
        for future in self._early.values():
            with contextlib.suppress(Exception):
                future.result(timeout=PAGE_TIMEOUT_S)
        self._early.clear()

    @contextlib.contextmanager
    def during_tier(self, op: str, domain: str, open_client: Callable[[], httpx.Client],
                    say: Callable[[str], None]) -> Iterator[None]:
        camera = self._camera if op in self._pictured else None
        with screenshot_during(camera, open_client, domain, self.run_dir, op, say, self._early.pop(op, None)):
            yield
        if camera is not None and op == self._last:
            camera.close(timeout_s=0)  # the browser closes while teardown waits on docker; finish() joins it

    def finish(self, results: dict[str, Any], say: Callable[[str], None]) -> None:
        """Once results.json is written (`results`): start the summary card's detached maker,
        close the browser and say where the pictures are. Never raises, never waits for the card."""
        camera, self._camera = self._camera, None
        self._stop.set()  # a screenshot still waiting for an app that never came up gives up
        if camera is None:
            return
        try:
            card = start_card(self.run_dir)
            say(f"summary card: {card} (being made in the background; card.json says when it is ready)")
        except Exception as err:
            say(f"no summary card: {type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}")
        finally:
            camera.hurry()  # the run waits on the browser now: niced, it may not close in time on a loaded machine
            camera.close()  # waited for: a browser thread still running at exit crashes the interpreter
        shots = sorted(self.run_dir.screenshots.glob("*.png"))
        if shots:
            say("screenshots: " + ", ".join(str(shot) for shot in shots))


def start_card(run_dir: RunDir) -> Path:
    """`python -m runner.pictures.card <run dir>` in its own session, logging to logs/card.log.
    It waits for its stdin to close, which happens once card.json says `making` with its pid:
    its own `made` can never be overwritten by that record."""
    with run_dir.log("card").open("ab") as log:
        maker = subprocess.Popen([sys.executable, "-m", "runner.pictures.card", str(run_dir.root)],
                                 cwd=_PACKAGE_ROOT, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)
    assert maker.stdin is not None
    try:
        record_card(run_dir, "making", pid=maker.pid)
    finally:
        with contextlib.suppress(BrokenPipeError):
            maker.stdin.close()
    return run_dir.card_png
