"""Which run dirs `cc-ci gc --prune-days` deletes: old, finished, and not still on the swarm."""

from __future__ import annotations

import os
import time
from pathlib import Path

from runner.harness.runlock import run_lock, stale_run_dirs

DAY = 86400.0


def _run_dir(runs: Path, name: str, age_days: float, results: bool = True) -> Path:
    run_dir = runs / name
    run_dir.mkdir(parents=True)
    stamp = time.time() - age_days * DAY
    if results:
        (run_dir / "results.json").write_text("{}")
        os.utime(run_dir / "results.json", (stamp, stamp))
    os.utime(run_dir, (stamp, stamp))
    return run_dir


def test_only_old_finished_runs_not_kept_are_stale(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    old = _run_dir(runs, "old", 10)
    _run_dir(runs, "recent", 1)
    _run_dir(runs, "kept", 10)
    killed = _run_dir(runs, "killed-without-results", 10, results=False)
    live = _run_dir(runs, "live", 10)
    (runs / "stray-file").write_text("not a run dir")

    with run_lock(live):
        stale = stale_run_dirs(runs, 7 * DAY, time.time(), keep=frozenset({"kept"}))

    assert stale == [killed, old]


def test_results_age_counts_not_the_dir_age(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    run_dir = _run_dir(runs, "r", 1)
    old = time.time() - 30 * DAY
    os.utime(run_dir, (old, old))  # e.g. a dir moved in from a backup: its results are recent
    assert stale_run_dirs(runs, 7 * DAY, time.time()) == []


def test_a_missing_runs_dir_has_nothing_stale(tmp_path: Path) -> None:
    assert stale_run_dirs(tmp_path / "nope", 0, time.time()) == []
