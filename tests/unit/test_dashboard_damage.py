"""One damaged run dir affects only its own row and page ("unreadable: <why>"); the pages' other
guards: every response carries `nosniff` and `frame-ancestors 'none'`, page numbers are bounded,
the file route follows no symlink anywhere in the path, and no exception text reaches a page."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from runner.dashboard.catalog import RunsDirCatalog
from runner.dashboard.pages import serve_app
from tests.unit.test_dashboard import BROWSER_ACCEPT, make_run

GOOD, DAMAGED = "20260101-000000-aaaaaa", "20260102-000000-bbbbbb"


def _results(text: str) -> Callable[[Path], None]:
    return lambda run: (run / "results.json").write_text(text)


def _replace(name: str, make: Callable[[Path], None]) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        (run / name).unlink(missing_ok=True)
        make(run / name)
    return damage


# (damage, what the damaged run's page says after "unreadable: ")
DAMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "stages-a-number": (_results('{"recipe": "broken", "stages": 5}'), "results.json: stages: Input should be a valid list"),
    "duration-a-string": (_results('{"recipe": "broken", "duration_s": "12"}'), "results.json: duration_s: Input should be a valid number"),
    "duration-infinity": (_results('{"recipe": "broken", "duration_s": Infinity}'), "results.json: not JSON: Infinity is not a number JSON allows"),
    "level-nan": (_results('{"recipe": "broken", "level": NaN}'), "results.json: not JSON: NaN is not a number JSON allows"),
    "duration-overflowing": (_results('{"recipe": "broken", "duration_s": 1e999}'), "results.json: duration_s: Input should be a finite number"),
    "duration-past-any-clock": (_results('{"recipe": "broken", "duration_s": 1e300}'), "results.json: duration_s: Input should be less than or equal to"),
    "tiers-of-strings": (_results('{"recipe": "broken", "tiers": ["install"]}'), "results.json: tiers.0: Input should be a valid dictionary"),
    "timeline-wrong": (_results('{"recipe": "broken", "op_timeline": {"install": 3}}'), "results.json: op_timeline.install: Input should be a valid dictionary"),
    "a-list": (_results("[1, 2]"), "results.json: a JSON list, not an object"),
    "not-json": (_results('{"recipe": '), "results.json: not JSON: Expecting value"),
    "not-utf8": (lambda run: (run / "results.json").write_bytes(b'{"recipe": "\xff"}'), "results.json: not UTF-8"),
    "too-deep": (_results("[" * 100_000), "results.json: not JSON: nested too deeply"),
    "results-a-directory": (_replace("results.json", lambda p: p.mkdir()), "results.json: results.json is a directory, not a regular file"),
    "results-a-fifo": (_replace("results.json", lambda p: os.mkfifo(p)), "results.json: results.json is a FIFO, not a regular file"),
    "results-a-symlink": (_replace("results.json", lambda p: p.symlink_to("/etc/passwd")), "results.json: results.json is a symlink, not a regular file"),
    "run-lock-a-directory": (_replace("run.lock", lambda p: p.mkdir()), "run.lock: not a regular file (a directory)"),
    "run-lock-a-fifo": (_replace("run.lock", lambda p: os.mkfifo(p)), "run.lock: not a regular file (a FIFO)"),
    "run-lock-a-symlink": (_replace("run.lock", lambda p: p.symlink_to("/etc/passwd")), "run.lock: not a regular file (a symlink)"),
}
# damage the pages read only while the run has no results yet (a run that just started)
BEFORE_RESULTS: dict[str, tuple[str, str, str]] = {
    "run-json-stages-a-string": ("run.json", '{"stages": "install"}', "run.json: stages: Input should be a valid list"),
    "op-state-a-string": ("op_state.json", '"ops"', "op_state.json: a JSON str, not an object"),
    "op-state-ops-wrong": ("op_state.json", '{"recipe": "broken", "ops": []}', "op_state.json: ops: Input should be a valid dictionary"),
    "app-json-recipe-a-number": ("app.json", '{"recipe": 5}', "app.json: recipe: Input should be a valid string"),
}


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    folder = tmp_path / "runs"
    make_run(folder, GOOD, recipe="good")
    make_run(folder, DAMAGED, recipe="broken")
    (folder / DAMAGED / "run.lock").touch()
    return folder


def _within(seconds: float, call: Callable[[], object]) -> object:
    """The call's result, or a failure when it hangs (a FIFO opened by today's code)."""
    result: list[object] = []
    worker = threading.Thread(target=lambda: result.append(call()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert result, f"no answer within {seconds}s"
    return result[0]


def _assert_only_its_own_row_and_page(runs: Path, why: str, recipe: str = "broken") -> None:
    client = TestClient(serve_app(RunsDirCatalog(runs)), raise_server_exceptions=False)

    def get(path: str) -> tuple[int, str]:
        answer = client.get(path, headers={"Accept": BROWSER_ACCEPT})
        return answer.status_code, answer.text

    for path in ("/", "/runs", "/recipes/good", f"/runs/{GOOD}", "/badge/good.svg", f"/runs/{DAMAGED}",
                 f"/runs/{DAMAGED}/live", f"/runs/{GOOD}/files/logs/run.log"):
        status, _ = _within(3, lambda path=path: get(path))  # type: ignore[misc]
        assert status == 200, path
    assert "L1 pass" in get("/badge/good.svg")[1]
    page = get(f"/runs/{DAMAGED}")[1]
    assert f"unreadable: {why}" in page.replace("&#39;", "'")
    assert str(runs) not in page  # the reason names the file in the run dir, never a server path
    row = next(line for line in get("/runs")[1].splitlines() if f"/runs/{DAMAGED}" in line)
    assert (recipe or "unknown") in row
    assert "unreadable: " in get("/runs")[1]
    good_page = get(f"/runs/{GOOD}")[1]
    assert "unreadable" not in good_page and "custom.test_x::test_evil" in good_page


@pytest.mark.parametrize("damage", DAMAGES, ids=list(DAMAGES))
def test_a_damaged_run_dir_affects_only_its_own_row_and_page(runs: Path, damage: str) -> None:
    make_damage, why = DAMAGES[damage]
    make_damage(runs / DAMAGED)
    salvaged = "broken" if damage not in ("a-list", "not-json", "not-utf8", "too-deep", "duration-infinity",
                                          "level-nan") and "results-a" not in damage else ""
    _assert_only_its_own_row_and_page(runs, why, salvaged)


@pytest.mark.parametrize("damage", BEFORE_RESULTS, ids=list(BEFORE_RESULTS))
def test_a_damaged_file_of_a_run_without_results_affects_only_its_own_row_and_page(runs: Path, damage: str) -> None:
    name, text, why = BEFORE_RESULTS[damage]
    run = runs / DAMAGED
    (run / "results.json").unlink()
    (run / "app.json").write_text('{"recipe": "broken"}')
    (run / name).write_text(text)
    _assert_only_its_own_row_and_page(runs, why, "" if name == "app.json" else "broken")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_a_results_json_the_viewer_may_not_read_affects_only_its_run(runs: Path) -> None:
    (runs / DAMAGED / "results.json").chmod(0)
    _assert_only_its_own_row_and_page(runs, "results.json: permission denied", "")


# the other guards


@pytest.fixture
def client(runs: Path) -> TestClient:
    return TestClient(serve_app(RunsDirCatalog(runs)))


@pytest.mark.parametrize("path", ["/", "/runs", f"/runs/{GOOD}", "/recipes/good", "/badge/good.svg",
                                  f"/runs/{GOOD}/live", f"/runs/{GOOD}/files/logs/run.log", "/static/style.css",
                                  "/favicon.ico", "/runs/nope", "/nowhere", "/runs?page=0"])
def test_every_response_forbids_sniffing_and_framing(client: TestClient, path: str) -> None:
    headers = client.get(path, headers={"Accept": BROWSER_ACCEPT}).headers
    assert headers["x-content-type-options"] == "nosniff", path
    assert "frame-ancestors 'none'" in headers["content-security-policy"], path


@pytest.mark.parametrize("query", ["page=99999999999999999999999", "page=1000001", "per_page=101",
                                   "page=0", "page=-1", "page=1e9", "per_page=" + "9" * 5000])
def test_page_numbers_and_sizes_are_bounded(client: TestClient, query: str) -> None:
    answer = client.get(f"/runs?{query}", headers={"Accept": BROWSER_ACCEPT})
    assert answer.status_code == 400 and "page must be" in answer.text


def test_the_runs_page_is_paged(client: TestClient) -> None:
    first = client.get("/runs?per_page=1", headers={"Accept": BROWSER_ACCEPT}).text
    assert f"/runs/{DAMAGED}" in first and f"/runs/{GOOD}\"" not in first and "page=2&amp;per_page=1" in first
    assert f"/runs/{GOOD}" in client.get("/runs?page=2&per_page=1", headers={"Accept": BROWSER_ACCEPT}).text


@pytest.mark.parametrize("folder", ["screenshots", "logs"])
def test_the_file_route_follows_no_symlinked_folder_in_the_path(runs: Path, tmp_path: Path, folder: str) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "run.log").write_text("SECRET from elsewhere\n")
    (elsewhere / "shot.png").write_bytes(b"\x89PNG SECRET from elsewhere")
    run = runs / GOOD
    if folder == "logs":
        (run / "logs" / "run.log").unlink()
        (run / "logs").rmdir()
    (run / folder).symlink_to(elsewhere)
    client = TestClient(serve_app(RunsDirCatalog(runs)))
    name = "logs/run.log" if folder == "logs" else "screenshots/shot.png"
    answer = client.get(f"/runs/{GOOD}/files/{name}")
    assert answer.status_code == 404 and "SECRET" not in answer.text
    assert name not in client.get(f"/runs/{GOOD}").text  # not linked either


def test_a_client_gone_before_a_file_streams_leaves_no_descriptor_open(runs: Path) -> None:
    # Starlette cancels a streaming response whose client has already gone before its first
    # chunk: the file must not depend on the stream starting to be closed (50 such requests
    # once left 50 descriptors open in the bridge and in serve).
    app = serve_app(RunsDirCatalog(runs))
    path = f"/runs/{GOOD}/files/logs/run.log"

    async def gone_at_once() -> None:
        asked = [{"type": "http.request", "body": b"", "more_body": False}]

        async def receive() -> dict[str, object]:
            return asked.pop() if asked else {"type": "http.disconnect"}

        async def send(message: object) -> None:
            pass

        scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
                 "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
                 "root_path": "", "headers": [(b"host", b"x")], "client": ("127.0.0.1", 1), "server": ("x", 80)}
        await app(scope, receive, send)

    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    asyncio.run(gone_at_once())  # warm: the app's own lazy setup
    before = open_fds()
    for _ in range(50):
        asyncio.run(gone_at_once())
    gc.collect()
    assert open_fds() - before < 5


def test_a_page_that_fails_shows_a_fixed_sentence_and_logs_the_reason(
        runs: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError(f"cannot open {runs}/secret-place")

    monkeypatch.setattr("runner.dashboard.pages.runview.timeline", broken)
    client = TestClient(serve_app(RunsDirCatalog(runs)), raise_server_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="cc-ci.dashboard"):
        answer = client.get(f"/runs/{GOOD}", headers={"Accept": BROWSER_ACCEPT})
    assert answer.status_code == 500 and "could not be drawn" in answer.text
    assert "secret-place" not in answer.text and "RuntimeError" not in answer.text
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "secret-place" in caplog.text  # the operator finds it in the log
