"""The dashboard's server as a real process: one damaged run dir beside a good one takes down
nothing but its own row and page, also for a viewer who may only read the runs dir; and SIGTERM
stops `cc-ci serve` and the bridge within 5 s even with a request stuck."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.unit.bridge.support import LOCAL_TLS, free_port, wait_until
from tests.unit.test_dashboard import BROWSER_ACCEPT, make_run
from tests.unit.test_dashboard_catalogue import write_history

ROOT = Path(__file__).resolve().parents[2]
GOOD, DAMAGED, PRIVATE = "20260101-000000-aaaaaa", "20260102-000000-bbbbbb", "20260103-000000-cccccc"
# wrong types and a number JSON does not have, as a damaged disk or a hand edit leaves them
DAMAGED_RESULTS = '{"recipe": "broken", "stages": 5, "duration_s": "12", "level": 1e999, "verdict": "pass"}'
STOP_WITHIN_S = 5.0


@pytest.fixture
def runs_dir() -> Iterator[Path]:
    """A good run and a damaged one (wrong types, run.lock a FIFO), where any user may read them."""
    root = Path(tempfile.mkdtemp(prefix="ccci-pages-", dir="/tmp"))
    root.chmod(0o755)  # a viewer running as another user must reach it
    runs = root / "runs"
    good = make_run(runs, GOOD, recipe="good")
    (good / "run.lock").touch()  # a finished run leaves its lock file behind, unlocked
    damaged = make_run(runs, DAMAGED, recipe="broken")
    (damaged / "results.json").write_text(DAMAGED_RESULTS)
    os.mkfifo(damaged / "run.lock")
    private = make_run(runs, PRIVATE, recipe="private")
    (private / "results.json").chmod(0o600)  # only its owner may read it
    yield runs
    _make_writable(runs)
    shutil.rmtree(root)


def _make_read_only(runs: Path) -> None:
    for path in [runs, *runs.rglob("*")]:
        if not path.is_symlink():
            path.chmod(stat.S_IMODE(path.lstat().st_mode) & ~0o222)


def _make_writable(runs: Path) -> None:
    for path in [runs, *runs.rglob("*")]:
        if not path.is_symlink():
            path.chmod(stat.S_IMODE(path.lstat().st_mode) | 0o200)


def _viewer_args(viewer: str, runs: Path) -> list[str]:
    """The owner, or a viewer who may read but not write the runs dir: as root (who may write
    anything) a real unprivileged user, else the owner with every write bit taken away."""
    if viewer == "owner":
        return []
    if os.geteuid() == 0:
        return ["--as-user", "nobody"]
    _make_read_only(runs)
    return []


@contextlib.contextmanager
def serving(runs: Path, *extra: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    log = runs.parent / f"serve-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "tests.unit.dashboard_server", str(runs), str(port), *extra],
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert proc.poll() is None, log.read_text()
        try:
            return httpx.get(f"{base}/static/style.css", timeout=1, verify=LOCAL_TLS).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, timeout=60, what=f"the server to listen (log: {log})")
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def _get(base: str, path: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    answer = httpx.get(f"{base}{path}", headers={"Accept": BROWSER_ACCEPT}, timeout=3)
    return answer, time.monotonic() - started


@pytest.mark.parametrize("viewer", ["owner", "read-only"])
def test_a_damaged_run_dir_beside_a_good_one_takes_down_only_its_own_row_and_page(runs_dir: Path, viewer: str) -> None:
    with serving(runs_dir, *_viewer_args(viewer, runs_dir)) as (base, _):
        for path in ("/", "/recipes/good", f"/runs/{GOOD}", "/badge/good.svg", "/runs", f"/runs/{DAMAGED}",
                     "/recipes/broken", f"/runs/{DAMAGED}/live"):
            answer, took = _get(base, path)
            assert answer.status_code == 200 and took < 3, (path, answer.status_code, took, answer.text[-300:])
        assert "L1 pass" in _get(base, "/badge/good.svg")[0].text
        assert f"/runs/{GOOD}" in _get(base, "/")[0].text
        page = _get(base, f"/runs/{DAMAGED}")[0].text
        assert "unreadable: results.json: " in page and "stages: Input should be a valid list" in page
        assert "run.lock: not a regular file (a FIFO)" in page
        row = next(line for line in _get(base, "/runs")[0].text.splitlines() if DAMAGED in line)
        assert "unreadable: results.json" in _get(base, "/runs")[0].text and "broken" in row
        assert "/tmp/" not in page  # no server path on an unauthenticated page
        private = _get(base, f"/runs/{PRIVATE}")[0].text
        if viewer == "read-only" and os.geteuid() == 0:  # as `nobody`, who may not read it
            assert "unreadable: results.json: permission denied" in private
        else:
            assert "unreadable" not in private


@pytest.mark.parametrize("viewer", ["owner", "read-only"])
def test_the_catalogue_page_reads_the_history_each_request_and_a_damaged_one_is_one_line(runs_dir: Path, viewer: str) -> None:
    history = runs_dir.parent / "catalogue.sqlite"
    write_history(history, time.time())
    history.chmod(0o644)  # a viewer may read it, not write it
    good = history.read_bytes()
    with serving(runs_dir, "--history", str(history), *_viewer_args(viewer, runs_dir)) as (base, _):
        answer, took = _get(base, "/catalogue")
        assert answer.status_code == 200 and took < 3 and "regressed L2→L0" in answer.text
        history.write_bytes(b"not a database\n" * 100)  # damaged while the server runs
        answer, took = _get(base, "/catalogue")
        assert answer.status_code == 200 and took < 3, answer.text[-300:]
        assert "the catalogue history could not be read: file is not a database" in answer.text
        assert "/tmp/" not in answer.text
        assert _get(base, "/")[0].status_code == 200
        history.write_bytes(good)
        assert "regressed L2→L0" in _get(base, "/catalogue")[0].text
        if viewer == "read-only" and os.geteuid() == 0:  # as `nobody`: a folder it may not enter
            runs_dir.parent.chmod(0o700)
            try:
                answer, took = _get(base, "/catalogue")
                assert answer.status_code == 200 and took < 3, answer.text[-300:]
                assert "the catalogue history could not be read: Permission denied" in answer.text
            finally:
                runs_dir.parent.chmod(0o755)
    assert history.read_bytes() == good


def _stuck_download(base: str, path: str) -> socket.socket:
    """A client that asks for a big file and never reads it: the server's send blocks."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    assert sock.recv(64).startswith(b"HTTP/1.1 200")
    time.sleep(0.5)
    return sock


def _stops_within(proc: subprocess.Popen[bytes], seconds: float) -> float:
    proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    try:
        proc.wait(timeout=seconds + 5)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {seconds + 5:.0f}s after SIGTERM")
    took = time.monotonic() - started
    assert took < seconds, f"stopped {took:.1f}s after SIGTERM"
    return took


def test_serve_stops_within_5s_of_sigterm_with_a_download_stuck(runs_dir: Path) -> None:
    (runs_dir / GOOD / "logs" / "tier-install.log").write_bytes(b"x" * (32 * 2**20))
    with serving(runs_dir) as (base, proc):
        sock = _stuck_download(base, f"/runs/{GOOD}/files/logs/tier-install.log")
        try:
            _stops_within(proc, STOP_WITHIN_S)
        finally:
            sock.close()


def test_serve_stops_within_5s_of_sigterm_with_a_page_read_stuck_in_the_kernel(runs_dir: Path) -> None:
    with serving(runs_dir, "--stuck") as (base, proc):
        with pytest.raises(httpx.ReadTimeout):  # the page's read never returns
            httpx.get(f"{base}/", timeout=1)
        sock = socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # one still waiting when the signal comes
        time.sleep(0.3)
        try:
            _stops_within(proc, STOP_WITHIN_S)
        finally:
            sock.close()

