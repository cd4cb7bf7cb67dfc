"""The dashboard in Debian's headless Chromium, against a running bridge whose runs dir holds real
run dirs: a passing install+upgrade run of the example (screenshots, card), followed live on its
run page while it goes on, and an install+custom run, at the same time, whose custom tests fail on
purpose (a browser test, an assertion holding `<script>`, one printing the app's generated
secret). Every page renders without console errors or broken links, the secret is nowhere in the
HTML. One bridge, one browser and these two runs serve every test of the module."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from runner.bridge.config import REPO_ROOT, BridgeConfig
from runner.bridge.service import Bridge, load_secrets
from runner.pictures.browser import chromium
from runner.pictures.card import card_state
from tests.e2e.conftest import SUITE_DOMAIN_BASE
from tests.unit.bridge.bridge_standins import StandinForge
from tests.unit.bridge.support import FORGE_TOKEN, MEMBER, ORG, REPO, WEBHOOK_SECRET

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.e2e

EVIL = "<script>document.title='pwned'</script>"
FAILING_CUSTOM = '''
from pathlib import Path


def test_the_page_has_a_heading_it_does_not(page):
    page.goto("/")
    assert page.locator("h1").inner_text() == "no such heading"


def test_output_holding_markup_is_shown_as_text():
    assert False, "{evil}"


def test_a_printed_secret_is_masked(exec_in):
    password = exec_in("app", ["cat", "/run/secrets/admin_password"]).stdout.strip()
    Path("{planted}").write_text(password)
    print("the password is", password)
    assert password == "", f"password {{password}}"
'''


def start_run(runs_dir: Path, stages: str, **env: str) -> subprocess.Popen[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("RECIPE", "REF", "PR", "STAGES", "VERSION")}
    return subprocess.Popen([sys.executable, "-m", "runner.run_recipe_ci"], cwd=REPO_ROOT, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**clean, "RECIPE": "custom-html-tiny", "STAGES": stages,
                                 "CCCI_RUNS_DIR": str(runs_dir), "CCCI_DOMAIN_BASE": SUITE_DOMAIN_BASE, **env})


def results_of(runs_dir: Path) -> dict[str, dict[str, Any]]:
    return {p.parent.name: json.loads(p.read_text()) for p in runs_dir.glob("*/results.json")}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("dashboard") / "runs"
    runs.mkdir()
    return runs


@pytest.fixture(scope="module")
def bridge(runs_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    forge = StandinForge(FORGE_TOKEN)
    forge.server.start()
    forge.add_member(ORG, MEMBER)
    mp = pytest.MonkeyPatch()
    mp.setenv("BRIDGE_TEST_SECRET_FORGE", FORGE_TOKEN)
    mp.setenv("BRIDGE_TEST_SECRET_WEBHOOK", WEBHOOK_SECRET)
    cfg = BridgeConfig.model_validate({
        "forge": {"url": forge.url, "token": {"env": "BRIDGE_TEST_SECRET_FORGE"}},
        "webhook": {"secret": {"env": "BRIDGE_TEST_SECRET_WEBHOOK"}, "host": "127.0.0.1", "port": 0},
        "repos": {REPO: "custom-html-tiny"},
        "executor": {"kind": "local", "command": [sys.executable, "-m", "runner.run_recipe_ci"],
                     "workdir": str(REPO_ROOT), "runs_dir": str(runs_dir)},
        "state_dir": str(tmp_path_factory.mktemp("state")),
    })
    running = Bridge(cfg, load_secrets(cfg))
    running.start_in_thread()
    yield running.bound_url
    running.stop(cancel_runs=True)
    forge.server.stop()
    mp.undo()


@pytest.fixture(scope="module")
def filled(bridge: str, browser: Browser, runs_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Both runs at once; the passing one followed live on its run page until it ends."""
    top = tmp_path_factory.mktemp("failing")
    planted, overlay = top / "planted-secret", top / "overlay"
    shutil.copytree(REPO_ROOT / "tests" / "custom-html-tiny", overlay)
    (overlay / "custom" / "test_failing.py").write_text(FAILING_CUSTOM.format(evil=EVIL, planted=planted))
    good = start_run(runs_dir, "install,upgrade")
    deadline = time.monotonic() + 30
    while not (new := list(runs_dir.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.1)
    bad = start_run(runs_dir, "install,custom", CCCI_OVERLAY_DIR=str(overlay))
    try:
        (good_dir,) = new
        seen = follow_live(browser, f"{bridge}/runs/{good_dir.name}", good)
    finally:
        _, good_stderr = good.communicate(timeout=300)
        _, bad_stderr = bad.communicate(timeout=300)
    assert good.returncode == 0, good_stderr[-3000:]
    assert bad.returncode == 1, bad_stderr[-3000:]
    by_verdict = {data["verdict"]: run_id for run_id, data in results_of(runs_dir).items()}
    for run_id in by_verdict.values():  # the cards are drawn after the runs ended
        deadline = time.monotonic() + 60
        while card_state(runs_dir / run_id) == "making" and time.monotonic() < deadline:
            time.sleep(0.1)
    return {"runs": runs_dir, "pass": by_verdict["pass"], "fail": by_verdict["fail"],
            "secret": planted.read_text(), "good_stderr": good_stderr, "seen_live": seen}


def follow_live(browser: Browser, url: str, proc: subprocess.Popen[str]) -> dict[str, Any]:
    """The tiers the run page showed as in progress while the run went on, and whether the page
    reloaded itself into the finished run's."""
    page = browser.new_page()
    try:
        while page.goto(url).status != 200:  # type: ignore[union-attr]
            time.sleep(0.2)  # until its first log line names the recipe
        tiers: set[str] = set()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "upgrade" not in tiers and proc.poll() is None:
            if page.locator("#live-tier").count():
                tiers.add(page.locator("#live-tier").inner_text())
            time.sleep(0.3)
        try:
            page.wait_for_selector("text=L2 (stopped at", timeout=120_000)  # reloaded once it ended
            reloaded = True
        except PlaywrightTimeout:
            reloaded = False
    finally:
        page.close()
    return {"tiers": tiers, "reloaded": reloaded}


def visit_all(browser: Browser, base: str, start_paths: list[str]) -> tuple[dict[str, str], list[str], list[str]]:
    """Every same-site page reachable from the start pages: their HTML, console errors and broken links."""
    import httpx

    pages: dict[str, str] = {}
    errors: list[str] = []
    broken: list[str] = []
    todo = list(start_paths)
    page = browser.new_page()
    try:
        page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
        while todo:
            path = todo.pop()
            if path in pages:
                continue
            answer = page.goto(base + path)
            assert answer is not None
            if answer.status >= 400:
                broken.append(f"{path}: {answer.status}")
                pages[path] = ""
                continue
            pages[path] = page.content()
            hrefs = page.eval_on_selector_all("a[href], img[src]", "els => els.map(e => e.getAttribute('href') || e.getAttribute('src'))")
            for href in hrefs:
                if href.startswith("/") and "/files/" in href:
                    status = httpx.get(base + href).status_code
                    if status >= 400:
                        broken.append(f"{href}: {status}")
                    pages.setdefault(href, "")
                elif href.startswith("/") and href not in pages:
                    todo.append(href)
    finally:
        page.close()
    return pages, errors, broken


def test_every_page_renders_without_console_errors_or_broken_links_and_leaks_nothing(
        browser: Browser, bridge: str, filled) -> None:
    pages, errors, broken = visit_all(browser, bridge, ["/", "/runs", f"/runs/{filled['pass']}", f"/runs/{filled['fail']}"])
    assert errors == [] and broken == []
    assert {"/recipes/custom-html-tiny", "/badge/custom-html-tiny.svg"} <= set(pages)
    html = "".join(pages.values())
    assert len(filled["secret"]) >= 8 and filled["secret"] not in html
    failing = pages[f"/runs/{filled['fail']}"]
    assert "&lt;script&gt;document.title" in failing and "<script>document.title" not in failing
    assert "test_the_page_has_a_heading_it_does_not" in failing
    assert "/browser/test_the_page_has_a_heading_it_does_not.png" in failing
    assert "/browser/test_the_page_has_a_heading_it_does_not.zip" in failing
    assert "/screenshots/install.png" in pages[f"/runs/{filled['pass']}"]
    assert "/card.png" in pages[f"/runs/{filled['pass']}"]


def test_a_failing_browser_test_fails_the_custom_tier_and_leaves_screenshot_and_trace(browser: Browser, filled) -> None:
    results = results_of(filled["runs"])[filled["fail"]]
    assert {t["op"]: t["verdict"] for t in results["tiers"]}["custom"] == "fail"
    folder = filled["runs"] / filled["fail"] / "browser"
    assert is_varied_png(browser, folder / "test_the_page_has_a_heading_it_does_not.png")
    assert (folder / "test_the_page_has_a_heading_it_does_not.zip").stat().st_size > 1000


def test_the_app_screenshots_and_the_card_are_non_blank_and_the_card_says_the_run(browser: Browser, filled) -> None:
    run_dir = filled["runs"] / filled["pass"]
    assert card_state(run_dir) == "made"  # by its detached maker, after the run ended
    for png in ("screenshots/install.png", "screenshots/upgrade.png", "card.png"):
        assert is_varied_png(browser, run_dir / png), png
    card = (run_dir / "card.html").read_text()
    for text in ("custom-html-tiny", ">pass<", "L2", "1.0.0+1.0", filled["pass"]):
        assert text in card, text
    assert "summary card: " in filled["good_stderr"] and "screenshots: " in filled["good_stderr"]


def test_the_run_page_follows_a_run_live_through_a_tier_change(filled) -> None:
    assert {"install", "upgrade"} <= filled["seen_live"]["tiers"], filled["seen_live"]
    assert filled["seen_live"]["reloaded"], "the page did not turn into the finished run's"


def is_varied_png(browser: Browser, path: Path) -> bool:
    """Not one flat colour: the pixel variance of the decoded PNG, read by Chromium itself."""
    import base64

    data = base64.b64encode(path.read_bytes()).decode()
    page = browser.new_page()
    try:
        variance = page.evaluate("""async (data) => {
            const img = new Image(); img.src = 'data:image/png;base64,' + data; await img.decode();
            const c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
            const g = c.getContext('2d'); g.drawImage(img, 0, 0);
            const px = g.getImageData(0, 0, c.width, c.height).data; let n = 0, s = 0, s2 = 0;
            for (let i = 0; i < px.length; i += 4) { const v = (px[i] + px[i+1] + px[i+2]) / 3; n++; s += v; s2 += v * v; }
            return s2 / n - (s / n) ** 2; }""", data)
    finally:
        page.close()
    return bool(variance > 1.0)
