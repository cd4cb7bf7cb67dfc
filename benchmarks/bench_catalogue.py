"""Benchmark: a catalogue of install-only recipes (default 12) run at `--jobs 1`, `2` and `4` on
this machine's local engine; recipes per hour printed for each. Not a timed test: run it by hand.

    .venv/bin/python benchmarks/bench_catalogue.py [--recipes 12] [--jobs 1,2,4]

The recipes are generated: clones of the bundled example (tests/fixtures/recipes/custom-html-tiny)
under names of their own, in a temporary folder with the catalogue file, its history and the run
dirs, so that it runs from a fresh clone (after scripts/bootstrap) and leaves nothing behind. Each
`--jobs` value is a fresh `cc-ci catalogue run` (no retry, no bisect: every recipe must pass); after
each, the objects of its runs' stacks still on the engine are listed and the benchmark fails if
there are any. Recipes per hour = recipes / wall time of the whole `cc-ci catalogue run` process;
the last runs' detached summary cards are waited for outside it (as benchmarks/bench_run.py does).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_run import settle_card  # noqa: E402  (this folder: the script's own)

from runner.recipe import git  # noqa: E402
from runner.recipe.repos import bundled_recipe_repo  # noqa: E402
from runner.run.rundir import RunDir  # noqa: E402

EXAMPLE = "custom-html-tiny"
_LISTS = {"service": ["service", "ls"], "container": ["ps", "-a"], "volume": ["volume", "ls"],
          "network": ["network", "ls"], "secret": ["secret", "ls"], "config": ["config", "ls"]}


def generate(folder: Path, count: int) -> Path:
    """`count` install-only recipes beside a catalogue file that lists them; the file's path."""
    example = bundled_recipe_repo(EXAMPLE)
    names = [f"bench-{n:02d}" for n in range(1, count + 1)]
    for name in names:
        git.git(None, "clone", "-q", str(example), str(folder / name))
    path = folder / "catalogue.yml"
    path.write_text("stages: install\nrecipes:\n" + "".join(f"  - name: {n}\n    repo: {n}\n" for n in names))
    return path


def left_on_engine(stacks: list[str]) -> list[str]:
    """The engine's objects whose name holds one of the runs' stacks."""
    found = []
    for kind, argv in _LISTS.items():
        names = subprocess.run(["docker", *argv, "--format", "{{.Names}}" if kind == "container" else "{{.Name}}"],
                               capture_output=True, text=True, check=True).stdout.split()
        found += [f"{kind} {name}" for name in names if any(stack in name for stack in stacks)]
    return found


def run_catalogue(path: Path, jobs: int, work: Path) -> tuple[float, list[str]]:
    """One `cc-ci catalogue run` at `jobs`: its wall time and its runs' stacks."""
    runs = work / f"runs-jobs{jobs}"
    env = {k: v for k, v in os.environ.items() if k not in ("RECIPE", "REF", "PR", "STAGES", "VERSION")}
    env |= {"CCCI_RUNS_DIR": str(runs), "CCCI_RESOLVE_IMAGE": "never"}  # the clones' images are built here
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "runner.cli", "catalogue", "run", str(path), "--jobs", str(jobs),
                           "--no-retry", "--no-bisect", "--history", str(work / f"history-jobs{jobs}.sqlite")],
                          cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    run_dirs = [d for d in runs.iterdir() if RunDir(d).results.exists()]
    for run_dir in run_dirs:  # uncounted: the last runs' detached card makers, before the next measure
        settle_card(run_dir)
    stacks = [json.loads(RunDir(d).results.read_text())["stack"] for d in run_dirs]
    if done.returncode != 0:
        raise SystemExit(f"--jobs {jobs}: the catalogue exited {done.returncode}\n{done.stdout}{done.stderr[-3000:]}")
    return wall, stacks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", type=int, default=12)
    parser.add_argument("--jobs", default="1,2,4", help="comma list of --jobs values (default 1,2,4)")
    args = parser.parse_args()
    levels = [int(j) for j in args.jobs.split(",")]
    print(f"{args.recipes} install-only recipes (clones of {EXAMPLE}), local engine, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    print(f"{'jobs':>4}  {'wall s':>7}  {'s/recipe':>8}  {'recipes/hour':>12}  left on the engine")
    failed = False
    with tempfile.TemporaryDirectory(prefix="ccci-bench-catalogue-") as tmp:
        work = Path(tmp)
        path = generate(work, args.recipes)
        for jobs in levels:
            wall, stacks = run_catalogue(path, jobs, work)
            left = left_on_engine(stacks)
            failed |= bool(left) or len(stacks) != args.recipes
            print(f"{jobs:>4}  {wall:>7.1f}  {wall / args.recipes:>8.1f}  {args.recipes / wall * 3600:>12.0f}  "
                  f"{', '.join(left) if left else 'nothing'} ({len(stacks)} runs)", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
