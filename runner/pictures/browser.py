"""The one headless browser: Debian's `chromium` driven by Playwright for Python.

Playwright's own browser download cannot run on a CI machine without the internet, so every
browser cc-ci starts (app screenshots, the summary card, the `page` fixture of browser tests, the
dashboard's own tests) is the system's Chromium through `executable_path`, launched here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING

from runner.errors import InfraError

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM_VAR = "CCCI_CHROMIUM"  # a Chromium other than Debian's, e.g. on another distribution
_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
# --no-sandbox: runs are root on CI machines, where Chromium refuses its sandbox
ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update"]


def chromium_path() -> str | None:
    """The system Chromium's path, or None when there is none (scripts/bootstrap installs it)."""
    if explicit := os.environ.get(CHROMIUM_VAR):
        return explicit if os.access(explicit, os.X_OK) else None
    return next((path for name in _CANDIDATES if (path := shutil.which(name))), None)


@contextlib.contextmanager
def chromium(proxy: str | None = None) -> Iterator[Browser]:
    """A headless Chromium for the block; raises InfraError naming what is missing."""
    path = chromium_path()
    if path is None:
        raise InfraError(f"no Chromium found (looked for {', '.join(_CANDIDATES)} and ${CHROMIUM_VAR}); "
                         "scripts/bootstrap installs Debian's chromium")
    from playwright.sync_api import sync_playwright  # heavy: only where a browser is wanted

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, headless=True, args=ARGS,
                                             proxy={"server": proxy} if proxy else None)
        try:
            yield browser
        finally:
            browser.close()
