"""The run's restic repository is initialised ahead of its backup (`Restic.init_ahead`): the key
derivation (~2.5 s of scrypt) runs niced while the ops before the backup wait on docker, and the
backup's own `init()` only collects it. Real restic, as the backup op runs it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from runner.errors import InfraError
from runner.plumbing import timing
from runner.run.rundir import RunDir
from runner.swarm import backup
from runner.swarm.backup import Restic


@pytest.fixture
def repo(tmp_path: Path) -> Restic:
    return Restic.for_run(RunDir(tmp_path / "run"))


def _nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])  # stat's 19th field


def _niced(pid: int) -> int:
    """Its nice once nice(1) has set it and exec'd restic (the first moment after the start)."""
    deadline = time.monotonic() + 10
    while _nice(pid) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    return _nice(pid)


def test_the_init_started_ahead_runs_niced_and_the_backups_init_only_collects_it(
        repo: Restic, monkeypatch: pytest.MonkeyPatch) -> None:
    repo.init_ahead()
    ahead = backup._initialising[repo.repository]
    assert _niced(ahead.pid) == 19  # behind the deploy it overlaps
    repo.init_ahead()  # a second call starts no second init
    assert backup._initialising[repo.repository] is ahead
    ahead.wait(timeout=60)  # the ops before the backup took longer than the derivation
    ran: list[tuple[str, ...]] = []
    monkeypatch.setattr(Restic, "run", lambda self, *args, **kwargs: ran.append(args))
    started = time.monotonic()
    repo.init()
    assert time.monotonic() - started < 0.5
    assert ran == []  # no second `restic init`
    assert (repo.repository / "config").exists()
    assert repo.repository not in backup._initialising


def test_waiting_for_the_init_started_ahead_is_a_restic_wait_at_the_runs_priority(
        repo: Restic, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() != 0:
        pytest.skip("raising a priority back needs CAP_SYS_NICE")
    repo.init_ahead()
    ahead = backup._initialising[repo.repository]
    assert _niced(ahead.pid) == 19
    seen: list[int] = []
    real_unnice = backup.unnice

    def unnice(tids: list[int], parent: int) -> None:
        real_unnice(tids, parent)
        seen.append(_nice(parent))  # the derivation takes seconds: it is still running here

    monkeypatch.setattr(backup, "unnice", unnice)
    before = timing.waits().get("restic", 0.0)
    repo.init()
    assert seen == [os.getpriority(os.PRIO_PROCESS, 0)]
    assert timing.waits().get("restic", 0.0) - before > 0.5
    assert (repo.repository / "config").exists()
    repo.run("snapshots", "--json")  # the repository opens with the run's password


def test_an_init_that_failed_ahead_is_done_again_and_reported_as_any_restic_call(
        repo: Restic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "no-restic"
    empty.mkdir()
    (empty / "nice").symlink_to("/usr/bin/nice")
    monkeypatch.setenv("PATH", str(empty))  # nice runs; restic is not there
    repo.init_ahead()
    with pytest.raises(InfraError, match="restic is not installed on the harness host"):
        repo.init()
    assert repo.repository not in backup._initialising


def test_an_init_no_backup_came_for_is_stopped_when_the_run_ends(repo: Restic) -> None:
    repo.init_ahead()
    ahead = backup._initialising[repo.repository]
    started = time.monotonic()
    backup.discard_ahead()
    assert backup._initialising == {}
    assert ahead.returncode == -signal.SIGKILL  # stopped, not waited out (seconds of key derivation)
    assert time.monotonic() - started < 1
