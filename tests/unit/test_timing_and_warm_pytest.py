"""The wait accounting behind results.json `waits_s`, and tiers run in a pytest started ahead."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner.plumbing import timing
from runner.swarm import reach
from runner.targets.base import counting_waits
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


# -- a tier's waits, counted in the run -------------------------------------------------------

def test_a_tiers_docker_and_restic_waits_count_as_the_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tier's fixtures wait on docker (a helper's digests) and restic (the backup floor's listing)
    in the tier's own process: those waits are the run's, as the same calls in an op are."""
    monkeypatch.setattr(warm_pytest, "_spare", None)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    probe = tmp_path / "test_waits.py"
    probe.write_text("import time\nfrom runner.plumbing import timing\n\ndef test_waits():\n"
                     "    with timing.waiting('restic'):\n        time.sleep(0.4)\n"
                     "    with timing.waiting('docker'):\n        time.sleep(0.2)\n")
    before = timing.waits()
    started = time.monotonic()
    done = warm_pytest.run(["-q", "-p", "no:cacheprovider", str(probe)], {})
    wall = time.monotonic() - started
    assert done.exit_code == 0, done.stdout + done.stderr
    after = timing.waits()
    assert after.get("restic", 0.0) - before.get("restic", 0.0) == pytest.approx(0.4, abs=0.1)
    assert after.get("docker", 0.0) - before.get("docker", 0.0) == pytest.approx(0.2, abs=0.1)
    assert sum(after.values()) - sum(before.values()) <= wall
    assert list(scratch.iterdir()) == []  # the report is read and removed


def test_credited_waits_never_exceed_the_wall_time_this_process_did_not_wait_itself() -> None:
    before = timing.waits()
    since = timing.mark()
    with timing.waiting("docker"):
        time.sleep(0.1)  # this process's own wait, in the same stretch
    time.sleep(0.1)
    timing.credit({"docker": 5.0, "restic": 5.0}, since)  # claims far more than the 0.2 s that passed
    after = timing.waits()
    gained = sum(after.values()) - sum(before.values())
    assert gained == pytest.approx(0.2, abs=0.03)
    assert after.get("restic", 0.0) - before.get("restic", 0.0) == 0.0  # docker's claim took the room first


@pytest.mark.parametrize("text", ["", "[1, 2]", "not json", '{"docker": "1"}', '{"docker": -1}', '{"docker": NaN}',
                                  '{"docker": Infinity}', '{"docker": true}', '{"tea": 1.0}', "[" * 100_000,
                                  '{"docker": 1.0, "pad": "' + "x" * 5000 + '"}'])
def test_a_report_the_tier_garbled_gives_no_waits(tmp_path: Path, text: str) -> None:
    report = tmp_path / "waits.json"
    report.write_text(text)
    assert timing.read_report(report) == {}


def test_a_report_gives_the_known_kinds_only(tmp_path: Path) -> None:
    report = tmp_path / "waits.json"
    report.write_text('{"docker": 1.5, "restic": 2, "tea": 3.0}')
    assert timing.read_report(report) == {"docker": 1.5, "restic": 2.0}
    assert timing.read_report(tmp_path / "absent.json") == {}


_ANY = st.none() | st.booleans() | st.floats() | st.integers() | st.text()
_JSON = st.recursive(_ANY, lambda kids: st.lists(kids) | st.dictionaries(st.text(), kids))


@given(st.binary(max_size=6000)
       | st.dictionaries(st.sampled_from(timing.KINDS) | st.text(), _ANY | _JSON).map(lambda d: json.dumps(d).encode())
       | _JSON.map(lambda value: json.dumps(value).encode()))
def test_any_report_gives_finite_non_negative_seconds_of_known_kinds(raw: bytes) -> None:
    with tempfile.NamedTemporaryFile() as report:
        report.write(raw)
        report.flush()
        got = timing.read_report(Path(report.name))
    assert set(got) <= set(timing.KINDS)
    assert all(math.isfinite(seconds) and seconds >= 0 for seconds in got.values())


# -- the engine's time is docker's ------------------------------------------------------------

class _SlowApi:
    def send(self, request: str, **_kwargs: object) -> str:
        time.sleep(0.2)
        return f"answered {request}"


def test_a_request_to_the_engine_on_the_main_thread_is_a_docker_wait_and_a_background_ones_is_not() -> None:
    client = counting_waits(SimpleNamespace(api=_SlowApi()))  # type: ignore[arg-type]
    before = timing.waits().get("docker", 0.0)
    assert client.api.send("ping") == "answered ping"
    after = timing.waits().get("docker", 0.0)
    assert after - before == pytest.approx(0.2, abs=0.05)
    # the camera's or the heartbeat's requests would hide what the run's thread does meanwhile
    background = threading.Thread(target=client.api.send, args=("ping",))
    background.start()
    background.join()
    assert timing.waits().get("docker", 0.0) - after == 0.0


def test_a_command_run_in_a_container_is_a_docker_wait() -> None:
    class Api:
        def exec_create(self, container_id: str, cmd: object, **_kwargs: object) -> dict[str, str]:
            return {"Id": "e1"}

        def exec_start(self, exec_id: str, demux: bool) -> tuple[bytes, None]:
            time.sleep(0.2)  # the command runs, its output streams back
            return b"out", None

        def exec_inspect(self, exec_id: str) -> dict[str, int]:
            return {"ExitCode": 0}

    container = SimpleNamespace(id="c1", client=SimpleNamespace(api=Api()))
    before = timing.waits().get("docker", 0.0)
    assert reach._exec(container, ["true"]).stdout == "out"  # type: ignore[arg-type]
    assert timing.waits().get("docker", 0.0) - before == pytest.approx(0.2, abs=0.05)


def test_a_report_that_cannot_be_written_changes_nothing(tmp_path: Path) -> None:
    timing.report_to(str(tmp_path / "no such dir" / "waits.json"))  # the tier's verdict is pytest's alone
