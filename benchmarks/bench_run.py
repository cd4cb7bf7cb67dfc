"""Benchmark: how long the substrate check and a whole install run of the example take.

Prints figures; asserts nothing. `python benchmarks/bench_run.py [--runs N]`
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as runs_dir:
        env = {**os.environ, "RECIPE": "custom-html-tiny", "CCCI_RUNS_DIR": runs_dir}
        up = [
            timed([sys.executable, "-m", "runner.cli", "swarm", "up"], env)
            for _ in range(args.runs)
        ]
        runs = [
            timed([sys.executable, "-m", "runner.run_recipe_ci"], env) for _ in range(args.runs)
        ]
        phases = []
        for results in Path(runs_dir).glob("*/results.json"):
            data = json.loads(results.read_text())
            phases.append((data["deployments"][0]["duration_s"], data["tiers"][0]["duration_s"]))
    print(
        f"swarm up (ready machine): median {statistics.median(up):.2f}s  max {max(up):.2f}s  (target < 5 s)"
    )
    print(f"install run, end to end:  median {statistics.median(runs):.2f}s  max {max(runs):.2f}s")
    print(
        f"  deploy+converge median {statistics.median(p[0] for p in phases):.2f}s, "
        f"install tier median {statistics.median(p[1] for p in phases):.2f}s"
    )


if __name__ == "__main__":
    main()
