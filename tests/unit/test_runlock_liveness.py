"""Whether a run is alive, as pages, the bridge and gc ask it: they only look (never write, never
block, never take the run's lock), so a run starting while they look always takes its own lock."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from runner.run.rundir import RunFileUnreadable
from runner.run.runlock import run_is_alive, run_lock, stale_run_dirs
from runner.swarm.gc import FoundRun, Judgement, judge

CHECKERS = 2
TAKES = 3000


def _look_until(run_dir: str, stop: multiprocessing.synchronize.Event, looked: multiprocessing.sharedctypes.Synchronized) -> None:  # type: ignore[name-defined]
    count = 0
    while not stop.is_set():
        run_is_alive(Path(run_dir))
        count += 1
    with looked.get_lock():
        looked.value += count


def test_a_starting_run_always_takes_its_lock_however_often_viewers_look(tmp_path: Path) -> None:
    """Today's check took the lock for an instant: a run starting then failed (47 in 3000)."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "run.lock").touch()
    context = multiprocessing.get_context("fork")
    stop, looked = context.Event(), context.Value("l", 0)
    checkers = [context.Process(target=_look_until, args=(str(run_dir), stop, looked)) for _ in range(CHECKERS)]
    for checker in checkers:
        checker.start()
    time.sleep(0.2)  # the checkers are looking
    failed = 0
    try:
        for _ in range(TAKES):
            try:
                with run_lock(run_dir):
                    pass
            except BlockingIOError:
                failed += 1
    finally:
        stop.set()
        for checker in checkers:
            checker.join(30)
    assert looked.value > 1000, f"only {looked.value} looks raced the {TAKES} takes"
    assert failed == 0, f"{failed} of {TAKES} starts failed to take their own lock while {looked.value} looks ran"


def test_a_run_is_alive_while_another_process_holds_its_lock_and_not_after(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from runner.run.runlock import run_lock\n"
        f"with run_lock(Path({str(run_dir)!r})):\n    print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parents[2])
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        assert run_is_alive(run_dir) is True
    finally:
        holder.kill()
        holder.wait(10)
    assert run_is_alive(run_dir) is False
    assert run_is_alive(tmp_path / "no-run") is False


def _alive_as_a_viewer_who_may_only_read(run_dir: Path) -> str:
    """run_is_alive in a forked child that may read the run dir but not write it: as root (who
    may write anything) the child becomes `nobody`; otherwise the lock file is made read-only."""
    if os.geteuid() != 0:
        (run_dir / "run.lock").chmod(0o444)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's result goes through the pipe
        os.close(read)
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            answer = str(run_is_alive(run_dir))
        except BaseException as err:  # noqa: BLE001 - any error is the answer
            answer = f"{type(err).__name__}: {err}"
        os.write(write, answer.encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read) as answer:
        return answer.read()


def test_a_viewer_who_may_only_read_can_tell_a_live_run_from_a_dead_one(tmp_path: Path) -> None:
    top = Path(tempfile.mkdtemp(prefix="ccci-lock-", dir="/tmp"))
    try:
        top.chmod(0o755)
        run_dir = top / "run"
        run_dir.mkdir()
        lock = run_dir / "run.lock"
        with run_lock(run_dir):
            before = lock.stat()
            assert _alive_as_a_viewer_who_may_only_read(run_dir) == "True"
        assert _alive_as_a_viewer_who_may_only_read(run_dir) == "False"
        assert (lock.stat().st_mtime_ns, lock.stat().st_size) == (before.st_mtime_ns, before.st_size)  # never written
    finally:
        shutil.rmtree(top)


@pytest.mark.parametrize("kind", ["fifo", "directory", "symlink to a held lock"])
def test_a_run_lock_that_is_not_a_regular_file_is_reported_at_once_never_opened(tmp_path: Path, kind: str) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    lock = run_dir / "run.lock"
    held = tmp_path / "held.lock"
    held.touch()
    if kind == "fifo":
        os.mkfifo(lock)
    elif kind == "directory":
        lock.mkdir()
    else:
        lock.symlink_to(held)
    answers: list[object] = []

    def look() -> None:
        try:
            answers.append(run_is_alive(run_dir))
        except Exception as err:  # noqa: BLE001 - the answer under test
            answers.append(err)

    with held.open() as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        looking = threading.Thread(target=look, daemon=True)  # a FIFO opened would never answer
        looking.start()
        looking.join(1)
    assert answers, "no answer within 1s"
    assert isinstance(answers[0], RunFileUnreadable) and str(answers[0]).startswith("run.lock: not a regular file")


def test_gc_keeps_what_it_cannot_judge(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    (runs / "odd").mkdir(parents=True)
    os.mkfifo(runs / "odd" / "run.lock")
    os.utime(runs / "odd", (0, 0))
    answers: list[object] = []

    def judge_it() -> None:
        answers.append(stale_run_dirs(runs, 60, time.time()))
        answers.append(judge(FoundRun("s", "odd", None, runs / "odd"), own_host="h", runs_dir=runs,
                             now=time.time(), ttl_s=60))

    judging = threading.Thread(target=judge_it, daemon=True)  # a FIFO opened would never answer
    judging.start()
    judging.join(2)
    assert len(answers) == 2, "no answer within 2s"
    stale, verdict = answers
    assert stale == [] and isinstance(verdict, Judgement)
    assert verdict.remove is False and "cannot tell" in verdict.why
