"""A process leaves without the interpreter's teardown but loses nothing on the way out, and a
tier's pytest loads only the plugins its folder names."""

from __future__ import annotations

import ssl
import subprocess
import sys
import textwrap
import time
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from runner.pictures.browser import chromium_path
from runner.plumbing.paths import REPO_ROOT
from runner.plumbing.priority import descendants
from runner.swarm.reach import tls_context
from runner.tiers import warm_pytest

_LEAVING = textwrap.dedent("""
    import atexit, sys, threading, time
    from pathlib import Path
    from runner.plumbing.fastexit import exit_now
    out = Path(sys.argv[1])
    atexit.register(lambda: (out / "atexit").write_text("ran"))
    def late() -> None:
        time.sleep(0.3)
        (out / "thread").write_text("finished")
    threading.Thread(target=late).start()  # not a daemon: a normal exit waits for it
    sys.stdout.write("no newline, still buffered")
    sys.stderr.write("said on stderr")
    exit_now(3)
""")


def test_exit_now_keeps_the_exit_code_the_buffered_output_atexit_and_running_threads(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", _LEAVING, str(tmp_path)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 3
    assert (done.stdout, done.stderr) == ("no newline, still buffered", "said on stderr")
    assert (tmp_path / "atexit").read_text() == "ran"
    assert (tmp_path / "thread").read_text() == "finished"


def test_a_run_leaving_through_exit_now_still_prints_its_help() -> None:
    done = subprocess.run([sys.executable, "-m", "runner.run_recipe_ci", "--help"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and "Exit codes:" in done.stdout


def test_a_tier_loads_no_pytest_plugin_merely_installed_beside_the_harness(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    installed = sorted({plugin.name for plugin in entry_points(group="pytest11")})
    if not installed:
        pytest.skip("no pytest plugin is installed in this environment to leave out")
    probe = tmp_path / "test_plugins.py"
    probe.write_text(textwrap.dedent(f"""
        def test_only_the_folders_plugins(request):
            loaded = [name for name in {installed!r} if request.config.pluginmanager.has_plugin(name)]
            assert loaded == []
    """))
    monkeypatch.setattr(warm_pytest, "_spare", None)  # one another test left is not this test's
    warm_pytest.warm_up()  # as the orchestrator hands tiers over: in the spare
    done = warm_pytest.run(["-q", "-p", "no:cacheprovider", str(probe)], warm_pytest.minimal_env({}, {}))
    assert done.exit_code == 0, done.output


def test_the_shared_tls_context_verifies_as_httpx_would() -> None:
    context = tls_context()
    assert context is tls_context()  # built once a process
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0  # the CA bundle is loaded


def test_the_next_tiers_pytest_starts_with_this_ones_and_waits_for_its_turn(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    probe = tmp_path / "test_pid.py"
    probe.write_text("import os\n\ndef test_pid():\n    print('pid', os.getpid())\n")
    monkeypatch.setattr(warm_pytest, "_spare", None)
    monkeypatch.setattr(warm_pytest, "_after", None)
    warm_pytest.warm_up(then=False)  # as an op starts with another tier after its own
    first, following = warm_pytest._spare, warm_pytest._after
    assert first is not None and following is not None and following.poll() is None
    ran = warm_pytest.run(["-q", "-s", "-p", "no:cacheprovider", str(probe)], {})
    assert f"pid {first.pid}" in ran.stdout
    warm_pytest.warm_up()  # the next op: its spare is waiting already, none is started
    assert warm_pytest._spare is following
    last = warm_pytest.run(["-q", "-s", "-p", "no:cacheprovider", str(probe)], {})
    assert f"pid {following.pid}" in last.stdout  # the next tier ran in the one started ahead
    assert (warm_pytest._spare, warm_pytest._after) == (None, None)  # the last tier leaves none behind


def test_a_spare_for_a_browser_tier_has_chromium_running_before_its_job_and_hands_it_to_the_page(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if chromium_path() is None:
        pytest.skip("no Chromium on this machine (scripts/bootstrap installs it)")
    root = tmp_path / "tier"
    root.mkdir()
    (root / "conftest.py").write_text('pytest_plugins = ("runner.tiers.browsertest",)\n')
    (root / "test_page.py").write_text(textwrap.dedent("""
        import os
        from pathlib import Path
        from runner.plumbing.priority import descendants, threads

        def test_page(browser):
            assert browser.is_connected()
            mine = descendants(os.getpid())
            # the browser launched before the job is the one the fixture gave
            assert set(mine) & set(map(int, os.environ["AHEAD"].split(",")))
            niced = [tid for pid in mine for tid in threads(pid) if os.getpriority(os.PRIO_PROCESS, tid) > 0]
            assert niced == []  # no thread of the browser left niced
    """))
    assert warm_pytest.wants_browser([root / "test_page.py"])
    assert not warm_pytest.wants_browser([Path(__file__)])  # takes no `page`: no browser ahead
    monkeypatch.setattr(warm_pytest, "_spare", None)
    monkeypatch.setattr(warm_pytest, "_after", None)
    warm_pytest.warm_up(then=True)  # the tier after the coming one takes a page
    warm_pytest.run(["-q", "-p", "no:cacheprovider", str(Path(__file__).parent / "test_layers.py"), "-k", "nothing"], {})
    spare = warm_pytest._spare  # started with the one before it
    assert spare is not None
    deadline = time.monotonic() + 60
    while not _chromium(spare.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    ahead = _chromium(spare.pid)
    assert ahead  # running before any job was handed over
    done = warm_pytest.run(["-q", "-p", "no:cacheprovider", "--rootdir", str(root), str(root / "test_page.py")],
                           warm_pytest.minimal_env({}, {"AHEAD": ",".join(map(str, ahead))}), cwd=root)
    assert done.exit_code == 0, done.output


def _chromium(pid: int) -> list[int]:
    """Chromium's processes below `pid`."""
    found = []
    for each in descendants(pid):
        try:
            if "chrom" in Path(f"/proc/{each}/comm").read_text():
                found.append(each)
        except OSError:
            continue  # gone meanwhile
    return found


def test_spares_no_tier_took_exit_when_the_run_discards_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warm_pytest, "_spare", None)
    monkeypatch.setattr(warm_pytest, "_after", None)
    warm_pytest.warm_up(then=False)
    spares = [warm_pytest._spare, warm_pytest._after]
    warm_pytest.discard()
    assert [spare.wait(30) for spare in spares if spare is not None] == [0, 0]
    assert (warm_pytest._spare, warm_pytest._after) == (None, None)


@pytest.mark.parametrize("source", [
    "x = a" + ".b" * 300_000,  # RecursionError in the parser
    "x = " + "-" * 300_000 + "1",  # MemoryError in the parser
    "def test_x(page):\n    pass\n" + "#" * (2 << 20),  # past the size the hint reads
    "def test_x(page:\n",  # not Python
], ids=["deep-attributes", "deep-unary", "huge", "syntax-error"])
def test_the_browser_hint_never_fails_on_a_hostile_test_file(tmp_path: Path, source: str) -> None:
    hostile = tmp_path / "test_hostile.py"
    hostile.write_text(source)
    page_test = tmp_path / "test_page.py"
    page_test.write_text("def test_page(page):\n    pass\n")
    assert warm_pytest.wants_browser([hostile]) is False
    assert warm_pytest.wants_browser([hostile, page_test]) is True  # the other files still count
