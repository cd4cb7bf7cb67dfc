"""The summary card: one picture of a run (recipe, verdict, ladder, tier rows, upgrade base ->
head, duration) for a PR comment. An HTML template (`templates/card.html`, set up as the
dashboard's pages are: `pictures/html.py`) screenshotted by headless Chromium, so there is one
rendering path; `card.html` stays beside `card.png` as its text.

The card is made after the verdict, by a detached process (`python -m runner.pictures.card
<run dir>`), so that no run waits for a browser to draw it. `card.json` in the run dir says where
it stands: `making` (with the process id), `made`, or `failed` (with why); the bridge reads it
(`card_state`) to link the card from its PR comment.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from runner.plumbing.fileio import write_json_atomic, write_text_atomic
from runner.run.readback import read_json
from runner.run.rundir import RunDir, RunFileUnreadable

if TYPE_CHECKING:
    from jinja2 import Environment
    from playwright.sync_api import Browser

COLOURS = {"pass": "#2e7d32", "fail": "#c62828", "error": "#8e0000", "empty": "#8d6e00"}
CardState = Literal["making", "made", "failed"]


@functools.cache
def _templates() -> Environment:
    """Jinja2 (0.1 s to import) for the card maker that draws; never for the run, which only
    records the card as `making` when it ends, nor for a reader of card.json."""
    from runner.pictures.html import templates

    return templates(Path(__file__).parent / "templates")


def card_html(results: dict[str, Any]) -> str:
    from runner.pictures.html import seconds

    return _templates().get_template("card.html").render(
        r=results, colour=COLOURS.get(str(results.get("verdict")), "#777"), duration=seconds(results.get("duration_s")))


def make_card(browser: Browser, run_dir: RunDir, results: dict[str, Any]) -> Path:
    """Write card.html and screenshot it to card.png in the run dir."""
    html = card_html(results)
    write_text_atomic(run_dir.card_html, html)
    context = browser.new_context(viewport={"width": 760, "height": 400}, device_scale_factor=1,
                                  java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_content(html, wait_until="load")
        page.locator("#card").screenshot(path=str(run_dir.card_png))
    finally:
        context.close()
    return run_dir.card_png


def record_card(run_dir: RunDir, state: CardState, pid: int | None = None, error: str | None = None) -> None:
    write_json_atomic(run_dir.card_json, {"state": state, "pid": pid, "png": RunDir.CARD_PNG, "error": error})


def card_state(run_dir: Path) -> CardState | None:
    """Where the run's card stands; None when the run makes none (pictures off, no Chromium
    before the run ended). A `making` whose process is gone reads as `failed`."""
    png = RunDir(run_dir).card_png
    try:  # read as pages read a run dir: never a FIFO, never through a symlink
        record = read_json(run_dir, RunDir.CARD_JSON)
    except RunFileUnreadable:
        record = None
    if not isinstance(record, dict):
        return "made" if png.is_file() else None  # a run dir from before card.json
    state = record.get("state")
    if state == "made" and png.is_file():
        return "made"
    if state == "making" and isinstance(record.get("pid"), int) and _alive(record["pid"]):
        return "making"
    return "failed"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process (a bridge reading a run user's run dir)
        return True
    return True


def main(argv: list[str]) -> int:
    """The detached card maker, drawing from results.json as written (scrubbed). It starts once
    the run closes its stdin, which the run does after recording it as `making` in card.json."""
    from runner.pictures.browser import chromium

    run_dir = RunDir(Path(argv[0]))
    sys.stdin.read()
    try:
        results = json.loads(run_dir.results.read_text())
        with chromium() as browser:
            make_card(browser, run_dir, results)
    except Exception as err:  # noqa: BLE001 - any failure is recorded in card.json; a card never fails a run
        text = str(err).strip().splitlines()[0] if str(err).strip() else ""
        record_card(run_dir, "failed", error=f"{type(err).__name__}: {text}".rstrip(": "))
        print(f"no summary card: {type(err).__name__}: {text}", file=sys.stderr)
        return 1
    record_card(run_dir, "made")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
