"""Repeat: one recipe's five-stage run N times in a row while K other runs go on beside it.

`python benchmarks/in_a_row.py [--recipe notes-tiny] [-n 20] [--beside 4] [--beside-recipe custom-html-tiny]`

The runs in a row go one after the other; meanwhile `--beside` runs of the other recipe are kept
going (each one replaced by a new one when it ends) until the last run in a row has ended. Every
run, in a row and beside, must pass with a clean teardown, and nothing may be left on the swarm.
Prints one line per run in a row and the figures; exit 0 when everything passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.stress_concurrent import left_on_swarm  # noqa: E402
from runner.ops import ORDER  # noqa: E402


class Run:
    """One run as an operator starts it; its console goes to a file (a pipe nobody reads while
    it runs would fill up and stall a run that prints a failing tier's log)."""

    def __init__(self, runs_dir: Path, stages: str, domain_base: str, recipe: str) -> None:
        runs_dir.mkdir(parents=True, exist_ok=True)
        self.log = runs_dir / f"console-{uuid.uuid4().hex[:8]}.log"
        env = {**os.environ, "RECIPE": recipe, "STAGES": stages, "CCCI_RUNS_DIR": str(runs_dir),
               "CCCI_DOMAIN_BASE": domain_base}
        with self.log.open("w") as console:
            self.proc = subprocess.Popen([sys.executable, "-m", "runner.run_recipe_ci"], cwd=REPO, env=env,
                                         stdout=subprocess.DEVNULL, stderr=console)

    def poll(self) -> int | None:
        return self.proc.poll()

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def wait(self) -> int:
        return self.proc.wait()

    def tail(self) -> list[str]:
        return self.log.read_text(errors="replace").strip().splitlines()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="notes-tiny")
    parser.add_argument("-n", "--runs", type=int, default=20)
    parser.add_argument("--beside", type=int, default=4, help="runs kept going beside the ones in a row")
    parser.add_argument("--beside-recipe", default="custom-html-tiny")
    parser.add_argument("--stages", default=",".join(ORDER))
    args = parser.parse_args()
    domain_base = f"row{uuid.uuid4().hex[:6]}.test"
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ccci-row-") as tmp:
        row_dir, beside_dir = Path(tmp) / "row", Path(tmp) / "beside"
        beside = [Run(beside_dir, args.stages, domain_base, args.beside_recipe) for _ in range(args.beside)]
        beside_done, durations = 0, []
        for i in range(1, args.runs + 1):
            started = time.perf_counter()
            proc = Run(row_dir, args.stages, domain_base, args.recipe)
            while proc.poll() is None:
                time.sleep(0.5)
                for k, other in enumerate(beside):  # keep K runs going beside this one
                    if other.poll() is not None:
                        beside_done += 1
                        if other.returncode != 0:
                            problems.append(f"a run beside ({args.beside_recipe}) exited {other.returncode}: "
                                            f"{other.tail()[-1:]}")
                        beside[k] = Run(beside_dir, args.stages, domain_base, args.beside_recipe)
            wall = time.perf_counter() - started
            durations.append(wall)
            tail = proc.tail()
            verdict = next((line for line in reversed(tail) if line.startswith("verdict:")), "no verdict line")
            print(f"  {i:2d}/{args.runs} {args.recipe}: exit {proc.returncode} in {wall:.1f}s — {verdict}", flush=True)
            if proc.returncode != 0:
                problems.append(f"run {i} of {args.recipe} exited {proc.returncode}: {tail[-12:]}")
        for other in beside:
            other.wait()
            beside_done += 1
            if other.returncode != 0:
                problems.append(f"a run beside ({args.beside_recipe}) exited {other.returncode}")
    left = left_on_swarm(domain_base)
    passed = args.runs - sum(1 for p in problems if p.startswith("run "))
    print(f"{args.recipe}: {passed}/{args.runs} passed in a row with {args.beside} {args.beside_recipe} run(s) "
          f"going on beside ({beside_done} of those ended); each run median {statistics.median(durations):.1f}s, "
          f"max {max(durations):.1f}s; left on the swarm: {left or 'nothing'}")
    for problem in problems:
        print(f"  PROBLEM: {problem}")
    return 0 if not problems and not left else 1


if __name__ == "__main__":
    sys.exit(main())
