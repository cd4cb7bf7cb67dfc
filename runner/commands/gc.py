"""`cc-ci gc`: remove what runs that died without tearing down left on the swarm (this host's
runs by their lock, another host's by their heartbeat's age); optionally prune old run dirs."""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

from rich.console import Console

from runner.deps.shared import Slot
from runner.errors import CcciError, InfraError
from runner.plumbing.paths import default_runs_dir
from runner.run.config import TargetSettings
from runner.run.deps import released_at
from runner.run.rundir import RunDir
from runner.run.runlock import exclusive, run_is_alive, stale_run_dirs
from runner.swarm.gc import DEFAULT_TTL_S, Judgement, engine_now, find_runs, judge
from runner.swarm.stack import remove_stack
from runner.targets import open_target
from runner.targets.base import Target

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs-dir", type=Path, default=None,
                        help="run dirs to check for live runs; default: ~/.local/state/cc-ci/runs [CCCI_RUNS_DIR]")
    parser.add_argument("--prune-days", type=_days, default=None, metavar="DAYS",
                        help="also delete the run dirs of finished runs older than DAYS (default: keep all)")
    parser.add_argument("--ttl", type=_duration, default=DEFAULT_TTL_S, metavar="AGE",
                        help="another harness host's run is dead once its heartbeat is older than AGE, and a "
                             "shared dependency (DEPS) no run holds a lease on goes once idle longer than AGE "
                             f"(seconds, or 30m, 2h; 0: at once; default {DEFAULT_TTL_S / 60:.0f}m)")
    parser.add_argument("--dry-run", action="store_true", help="list what would be removed and why, remove nothing")
    parser.add_argument("--run", metavar="RUN_ID", default=None,
                        help="judge and reclaim only this run's objects (the bridge does this before it "
                             "re-runs a job whose run died with it)")


def _days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        days = -1.0
    if not days >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days (e.g. 30)")
    return days


def _duration(text: str) -> float:
    value, unit = (text[:-1], text[-1]) if text and text[-1] in _UNITS else (text, "s")
    try:
        seconds = float(value) * _UNITS[unit]
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age (seconds, or e.g. 30m, 2h)")
    return seconds


def main(args: argparse.Namespace) -> int:
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    settings = TargetSettings.from_env(os.environ)
    runs_dir = args.runs_dir or Path(os.environ.get("CCCI_RUNS_DIR") or default_runs_dir())
    target = open_target(settings)
    try:
        try:
            judged = judge_runs(target, settings.host_id, runs_dir, args.ttl)
        except CcciError:
            raise
        except Exception as err:  # noqa: BLE001 - an engine or transport error: one line, no traceback
            raise InfraError(f"gc could not list the runs on {target.address}: {_one_line(err)}") from None
        chosen = judged if args.run is None else [j for j in judged if j.run.run_id == args.run]
        failed = _reclaim(console, target, chosen, args.dry_run)
        if args.prune_days is not None:
            # A run whose objects could not be removed keeps its run dir, the record of what it was;
            # so does every run not chosen by --run whose objects are still there.
            keep = frozenset(j.run.run_id for j in judged
                             if not j.remove or args.dry_run or j.run.stack in failed or j not in chosen)
            _prune_run_dirs(console, runs_dir, args.prune_days, keep, args.dry_run)
    finally:
        target.close()
    if failed:
        left = [obj for objs in failed.values() for obj in objs]
        raise InfraError(f"gc could not remove {len(left)} object(s): {', '.join(left[:5])}")
    return 0


def judge_runs(target: Target, own_host: str, runs_dir: Path, ttl_s: float,
               now: float | None = None) -> list[Judgement]:
    """Every run on the target's swarm, judged (`now`: the engine's clock unless given)."""
    runs = find_runs(target.client)
    at = now if now is not None else engine_now(target.client) if runs else 0.0
    return [judge(run, own_host=own_host, runs_dir=runs_dir, now=at, ttl_s=ttl_s) for run in runs]


def _reclaim(console: Console, target: Target, judged: list[Judgement], dry_run: bool) -> dict[str, list[str]]:
    doomed = [j for j in judged if j.remove]
    if dry_run:
        for j in judged:
            verb = "would remove" if j.remove else "keeps"
            console.print(f"gc: {verb} {j.run.stack} (run {j.run.run_id}): {j.why}")
    if not doomed:
        console.print("gc: nothing to reclaim")
        return {}
    failed: dict[str, list[str]] = {}
    for j in [] if dry_run else doomed:
        left = _remove(target, j)
        if left is None:
            console.print(f"gc: keeps {j.run.stack} (run {j.run.run_id}): a run took its lease meanwhile")
            continue
        console.print(f"gc: removed {j.run.stack} (run {j.run.run_id}): {j.why}"
                      + (f"; LEFT: {', '.join(left)}" if left else ""))
        if left:
            failed[j.run.stack] = left
    return failed


def _remove(target: Target, j: Judgement) -> list[str] | None:
    """Remove the run's stack; what is left. A shared dependency is removed under its slot's deploy
    lock, and only if still no run leases it (None: one took it meanwhile, it is kept); its run dir
    then stops being a dependency's and its slot forgets it."""
    run_dir = j.run.run_dir
    if run_dir is None or released_at(RunDir(run_dir)) is None:
        return remove_stack(target.client, j.run.stack)
    slot = Slot(run_dir.parent)
    with exclusive(slot.deploy_lock, 0.0) as taken:
        if not taken or run_is_alive(run_dir):
            return None
        left = remove_stack(target.client, j.run.stack)
        if not left:
            RunDir(run_dir).dep_json.unlink(missing_ok=True)
            slot.forget(j.run.run_id)
        return left


def _one_line(err: BaseException) -> str:
    return f"{type(err).__name__}: {' '.join(str(err).split())}"[:300]


def _prune_run_dirs(console: Console, runs_dir: Path, days: float, keep: frozenset[str], dry_run: bool) -> None:
    stale = stale_run_dirs(runs_dir, days * 86400, time.time(), keep)
    for run_dir in stale:
        if not dry_run:
            shutil.rmtree(run_dir)
    verb = "would delete" if dry_run else "deleted"
    console.print(f"gc: {verb} {len(stale)} run dir(s) older than {days:g} day(s) in {runs_dir}")
