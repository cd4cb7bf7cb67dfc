"""The summary card: one picture of a run (recipe, verdict, ladder, tier rows, upgrade base ->
head, duration) for a PR comment. An HTML template screenshotted by the run's own headless
Chromium, so there is one rendering path; `card.html` stays beside `card.png` as its text."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.dashboard.pages import render, seconds
from runner.harness.fileio import write_text_atomic

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CARD_PNG = "card.png"
CARD_HTML = "card.html"
COLOURS = {"pass": "#2e7d32", "fail": "#c62828", "error": "#8e0000", "empty": "#8d6e00"}


def card_html(results: dict[str, Any]) -> str:
    return render("card.html", r=results, colour=COLOURS.get(str(results.get("verdict")), "#777"),
                  duration=seconds(results.get("duration_s")))


def make_card(browser: Browser, run_dir: Path, results: dict[str, Any]) -> Path:
    """Write card.html and screenshot it to card.png in the run dir."""
    html = card_html(results)
    write_text_atomic(run_dir / CARD_HTML, html)
    context = browser.new_context(viewport={"width": 760, "height": 400}, device_scale_factor=1,
                                  java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_content(html, wait_until="load")
        page.locator("#card").screenshot(path=str(run_dir / CARD_PNG))
    finally:
        context.close()
    return run_dir / CARD_PNG
