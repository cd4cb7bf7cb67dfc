"""Which run dirs `cc-ci gc --prune-days` deletes: old, finished, and not still on the swarm."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pytest

from runner.run.runlock import run_lock, stale_run_dirs

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


def test_gc_of_one_run_never_prunes_another_runs_dir_whose_objects_are_still_there(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `cc-ci gc --run A --prune-days N`: run B is dead and its objects are still on the swarm (not
    # chosen): its run dir, the record of what it left, is kept (found in review: it was pruned).
    from runner.commands import gc as gc_command
    from runner.swarm.gc import FoundRun, Judgement

    def found(run_id: str) -> Judgement:
        run = FoundRun(run_id=run_id, stack=f"{run_id}_stack", host=None, run_dir=tmp_path / run_id)
        return Judgement(run, remove=True, why="its run has ended")

    class Target:
        def close(self) -> None:
            pass

    kept: list[frozenset[str]] = []
    monkeypatch.setattr(gc_command, "open_target", lambda settings: Target())
    monkeypatch.setattr(gc_command, "judge_runs", lambda *args, **kwargs: [found("a"), found("b")])
    monkeypatch.setattr(gc_command, "_reclaim", lambda console, target, judged, dry_run: {})
    monkeypatch.setattr(gc_command, "_prune_run_dirs",
                        lambda console, runs_dir, days, keep, dry_run: kept.append(keep))
    args = argparse.Namespace(runs_dir=tmp_path, ttl=900.0, run="a", prune_days=1.0, dry_run=False)
    assert gc_command.main(args) == 0
    assert kept == [frozenset({"b"})]
