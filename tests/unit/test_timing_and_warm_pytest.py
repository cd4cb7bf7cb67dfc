"""The wait accounting behind results.json `waits_s`, and tiers run in a pytest started ahead."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from runner.plumbing import timing
from runner.tiers import warm_pytest


def test_waits_are_summed_per_kind() -> None:
    before = timing.waits()
    with timing.waiting("docker"):
        time.sleep(0.05)
    with timing.waiting("restic"):
        time.sleep(0.03)
    with timing.waiting("docker"):
        time.sleep(0.05)
    after = timing.waits()
    assert after["docker"] - before.get("docker", 0.0) == pytest.approx(0.10, abs=0.03)
    assert after["restic"] - before.get("restic", 0.0) == pytest.approx(0.03, abs=0.02)


def test_nested_and_overlapping_waits_count_once() -> None:
    """Teardown waits on docker in several threads at once: the sum must not exceed the wall."""
    before = timing.waits().get("docker", 0.0)
    started = time.monotonic()
    with timing.waiting("docker"):
        threads = [threading.Thread(target=lambda: _wait(0.1)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with timing.waiting("docker"):
            time.sleep(0.02)
    wall = time.monotonic() - started
    assert timing.waits()["docker"] - before == pytest.approx(wall, abs=0.01)


def _wait(seconds: float) -> None:
    with timing.waiting("docker"):
        time.sleep(seconds)


@pytest.fixture
def test_file(tmp_path: Path) -> Path:
    path = tmp_path / "test_env.py"
    path.write_text("import os\n\ndef test_env():\n    assert os.environ['CCCI_OP'] == 'install'\n")
    return path


def test_a_tier_in_the_spare_gets_its_args_and_env_and_its_exit_code(
    test_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a spare another test in this process left waiting (test_orchestrator's tiers, in whatever order
    # xdist hands tests out) is not this test's: counting starts from none
    monkeypatch.setattr(warm_pytest, "_spare", None)
    started: list[subprocess.Popen[str]] = []
    real_start = warm_pytest._start
    monkeypatch.setattr(warm_pytest, "_start", lambda *a: started.append(real_start(*a)) or started[-1])
    warm_pytest.warm_up()
    warm_pytest.warm_up()  # one spare is enough
    passed = warm_pytest.run(["-q", "-p", "no:cacheprovider", str(test_file)], {"CCCI_OP": "install"})
    assert (passed.exit_code, len(started)) == (0, 1)  # the spare ran it
    assert "1 passed" in passed.stdout
    failed = warm_pytest.run(["-q", "-p", "no:cacheprovider", str(test_file)], {"CCCI_OP": "upgrade"})
    assert failed.exit_code == 1 and "1 failed" in failed.stdout
    assert len(started) == 2  # no spare left: started on demand


def test_a_spare_nobody_asks_for_exits_when_its_stdin_closes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warm_pytest, "_spare", None)
    warm_pytest.warm_up()
    spare = warm_pytest._spare
    assert spare is not None and spare.stdin is not None
    spare.stdin.close()  # what the kernel does when the run's process dies, however it dies
    assert spare.wait(timeout=30) == 0


def test_the_tier_runs_at_the_priority_of_the_run_not_of_the_warm_up(tmp_path: Path) -> None:
    probe = tmp_path / "test_priority.py"
    probe.write_text(f"import os\n\ndef test_priority():\n    assert os.getpriority(os.PRIO_PROCESS, 0) == "
                     f"{os.getpriority(os.PRIO_PROCESS, 0)}\n")
    warm_pytest.warm_up()
    time.sleep(1)  # let it reach its job-waiting point, niced
    result = warm_pytest.run(["-q", "-p", "no:cacheprovider", str(probe)], {})
    assert result.exit_code == 0, result.stdout


_SLOW_START = """import os, sys, time
os.setpriority(os.PRIO_PROCESS, 0, 19)
time.sleep(2)  # imports on a loaded machine
print(os.getpriority(os.PRIO_PROCESS, 0))
sys.stdin.readline()
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="raising a priority again needs root (CAP_SYS_NICE)")
def test_a_spare_still_starting_up_gets_full_priority_once_its_tier_is_handed_over(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a loaded machine a spare niced to 19 crawls: once the tier waits on it, it must not."""
    monkeypatch.setattr(warm_pytest, "_spare", None)
    monkeypatch.setattr(warm_pytest, "_CHILD", _SLOW_START)
    warm_pytest.warm_up()
    spare = warm_pytest._spare
    assert spare is not None
    deadline = time.monotonic() + 10
    while os.getpriority(os.PRIO_PROCESS, spare.pid) != 19 and time.monotonic() < deadline:
        time.sleep(0.01)  # it has niced itself: its start-up is under way
    assert warm_pytest.run([], {}).stdout.split() == ["0"]


def test_a_phase_is_charged_its_wall_time_and_the_waits_inside_it() -> None:
    """results.json `phases_s`: the harness's own share of a phase is wall_s - waits_s. (Each
    figure against the block's own clock: a loaded machine sleeps longer than asked.)"""
    before = timing.phases().get("deploy-test", {"wall_s": 0.0, "waits_s": 0.0})
    started = time.monotonic()
    with timing.phase("deploy-test"):
        time.sleep(0.05)
        waited_from = time.monotonic()
        with timing.waiting("docker"):
            time.sleep(0.1)
        waited = time.monotonic() - waited_from
    wall = time.monotonic() - started
    after = timing.phases()["deploy-test"]
    assert after["wall_s"] - before["wall_s"] == pytest.approx(wall, abs=0.005)
    assert after["waits_s"] - before["waits_s"] == pytest.approx(waited, abs=0.005)
    assert wall - waited >= 0.05


def test_a_phase_inside_another_is_charged_alone_so_phases_never_overlap() -> None:
    """A further app's teardown inside an op: the op's phase does not count those seconds again."""
    before = timing.phases()
    started = time.monotonic()
    with timing.phase("outer-test"):
        time.sleep(0.05)
        inner_from = time.monotonic()
        with timing.phase("inner-test"):
            time.sleep(0.1)
        inner_wall = time.monotonic() - inner_from
        time.sleep(0.05)
    wall = time.monotonic() - started
    after = timing.phases()
    outer = after["outer-test"]["wall_s"] - before.get("outer-test", {}).get("wall_s", 0.0)
    inner = after["inner-test"]["wall_s"] - before.get("inner-test", {}).get("wall_s", 0.0)
    assert inner == pytest.approx(inner_wall, abs=0.005) and outer == pytest.approx(wall - inner_wall, abs=0.005)
    assert outer >= 0.1


def test_the_process_age_counts_from_the_interpreters_start() -> None:
    code = "import time; time.sleep(0.5)\nfrom runner.plumbing.timing import process_age_s\nprint(process_age_s())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[2])
    assert 0.5 <= float(done.stdout) < 10
