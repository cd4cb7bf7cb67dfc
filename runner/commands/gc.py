"""`cc-ci gc`: remove the stacks of runs that died without tearing down."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from runner.errors import InfraError
from runner.harness import gc
from runner.harness.docker_client import docker_client
from runner.harness.paths import default_runs_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs-dir", type=Path, default=None,
                        help="run dirs to check for live runs; default: ~/.local/state/cc-ci/runs [CCCI_RUNS_DIR]")
    parser.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")


def main(args: argparse.Namespace) -> int:
    console = Console(stderr=True, highlight=False)
    client = docker_client()
    orphans = gc.find_orphans(client, args.runs_dir or default_runs_dir())
    if not orphans:
        console.print("gc: nothing to reclaim")
        return 0
    failed = []
    for orphan in orphans:
        if args.dry_run:
            console.print(f"gc: would remove {orphan.stack} (run {orphan.run_id})")
            continue
        left = gc.reclaim(client, orphan)
        console.print(f"gc: removed {orphan.stack} (run {orphan.run_id})" + (f"; LEFT: {', '.join(left)}" if left else ""))
        failed += left
    if failed:
        raise InfraError(f"gc could not remove {len(failed)} object(s): {', '.join(failed[:5])}")
    return 0
