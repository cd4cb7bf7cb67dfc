"""`cc-ci gc`: remove the stacks of runs that died without tearing down; optionally prune old run dirs."""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

from rich.console import Console

from runner.drivers import DRIVERS, create_driver
from runner.drivers.base import Driver
from runner.errors import InfraError
from runner.harness.config import DriverSettings
from runner.harness.paths import default_runs_dir
from runner.harness.runlock import stale_run_dirs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs-dir", type=Path, default=None,
                        help="run dirs to check for live runs; default: ~/.local/state/cc-ci/runs [CCCI_RUNS_DIR]")
    parser.add_argument("--prune-days", type=_days, default=None, metavar="DAYS",
                        help="also delete the run dirs of finished runs older than DAYS (default: keep all)")
    parser.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")
    parser.add_argument("--driver", choices=sorted(DRIVERS), default="swarm",
                        help="where the runs deployed (default: swarm) [CCCI_DRIVER]")


def _days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        days = -1.0
    if not days >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days (e.g. 30)")
    return days


def main(args: argparse.Namespace) -> int:
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    driver = create_driver(os.environ.get("CCCI_DRIVER") or args.driver, DriverSettings())
    runs_dir = args.runs_dir or Path(os.environ.get("CCCI_RUNS_DIR") or default_runs_dir())
    failed = _reclaim_orphans(console, driver, runs_dir, args.dry_run)
    if args.prune_days is not None:
        # A run whose objects could not be removed keeps its run dir, the record of what it was.
        keep = frozenset(driver.run_ids_present())
        _prune_run_dirs(console, runs_dir, args.prune_days, keep, args.dry_run)
    if failed:
        raise InfraError(f"gc could not remove {len(failed)} object(s): {', '.join(failed[:5])}")
    return 0


def _reclaim_orphans(console: Console, driver: Driver, runs_dir: Path, dry_run: bool) -> list[str]:
    orphans = driver.find_orphans(runs_dir)
    if not orphans:
        console.print("gc: nothing to reclaim")
        return []
    failed: list[str] = []
    for orphan in orphans:
        if dry_run:
            console.print(f"gc: would remove {orphan.stack} (run {orphan.run_id})")
            continue
        left = driver.reclaim(orphan)
        console.print(f"gc: removed {orphan.stack} (run {orphan.run_id})" + (f"; LEFT: {', '.join(left)}" if left else ""))
        failed += left
    return failed


def _prune_run_dirs(console: Console, runs_dir: Path, days: float, keep: frozenset[str], dry_run: bool) -> None:
    stale = stale_run_dirs(runs_dir, days * 86400, time.time(), keep)
    for run_dir in stale:
        if not dry_run:
            shutil.rmtree(run_dir)
    verb = "would delete" if dry_run else "deleted"
    console.print(f"gc: {verb} {len(stale)} run dir(s) older than {days:g} day(s) in {runs_dir}")
