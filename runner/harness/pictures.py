"""What a run pictures, and when: the app after install and after upgrade (while their tiers run),
and the summary card once the verdict is written. The orchestrator's only contact with the
camera; `CCCI_PICTURES=0` turns it off (a machine without Chromium records why and goes on)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from runner.harness.camera import SCREENSHOTS, Camera, screenshot_during

PICTURED_OPS = ("install", "upgrade")
PICTURES_VAR = "CCCI_PICTURES"
CARD_TIMEOUT_S = 30.0


class Pictures:
    def __init__(self, run_dir: Path, enabled: bool = True) -> None:
        self.run_dir = run_dir
        self.enabled = enabled and os.environ.get(PICTURES_VAR, "1") != "0"
        self._camera: Camera | None = None

    def start(self) -> None:
        """Launch the browser in the background (call when the first op starts waiting on docker)."""
        if self.enabled and self._camera is None:
            self._camera = Camera()

    @contextlib.contextmanager
    def during_tier(self, op: str, domain: str, open_client: Callable[[], httpx.Client],
                    say: Callable[[str], None]) -> Iterator[None]:
        camera = self._camera if op in PICTURED_OPS else None
        with screenshot_during(camera, open_client, domain, self.run_dir, op, say):
            yield

    def finish(self, results: dict[str, Any], say: Callable[[str], None]) -> None:
        """The summary card from the written results, then the browser closes. Never raises."""
        camera, self._camera = self._camera, None
        if camera is None:
            return
        from runner.dashboard.card import make_card  # the reporting side, only when a card is made

        try:
            card = camera.submit(lambda browser: make_card(browser, self.run_dir, results)).result(CARD_TIMEOUT_S)
            say(f"summary card: {card}")
        except Exception as err:
            say(f"no summary card: {type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}")
        finally:
            camera.close()
        shots = sorted((self.run_dir / SCREENSHOTS).glob("*.png"))
        if shots:
            say("screenshots: " + ", ".join(str(shot) for shot in shots))
