"""Stress: N runs at once on the one swarm. Every run must pass and tear down clean, and nothing
of theirs may be left on the swarm afterwards; prints the wall time against one run alone.

`python benchmarks/stress_concurrent.py [-n 16] [--stages install,upgrade,backup,restore,custom]
[--recipes custom-html-tiny,notes-tiny]`: the runs take the recipes in turn (run i gets recipe
i mod their number); each recipe also runs once alone first, for the comparison.
Exit 0 when all passed and nothing was left, 1 otherwise (with what failed).
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
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_run import settle_card  # noqa: E402  -- the same wait as the timed benchmark

from runner.ops import ORDER  # noqa: E402
from runner.run.rundir import RunDir  # noqa: E402
from runner.targets.local import connect as docker_client  # noqa: E402

DEFAULT_RECIPES = "custom-html-tiny"


def start_run(runs_dir: Path, stages: str, domain_base: str, recipe: str) -> subprocess.Popen[str]:
    env = {**os.environ, "RECIPE": recipe, "STAGES": stages, "CCCI_RUNS_DIR": str(runs_dir),
           "CCCI_DOMAIN_BASE": domain_base}
    return subprocess.Popen([sys.executable, "-m", "runner.run_recipe_ci"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def recipes_for(count: int, recipes: list[str]) -> list[str]:
    """The recipe of each of `count` runs: the recipes in turn."""
    return [recipes[i % len(recipes)] for i in range(count)]


def run_batch(recipes: list[str], stages: str, runs_dir: Path,
              domain_base: str) -> tuple[float, list[str], list[dict[str, Any]]]:
    """One run per entry of `recipes`, all at once: wall time, problems found, each run's results.json."""
    count = len(recipes)
    started = time.perf_counter()
    procs = [start_run(runs_dir, stages, domain_base, recipe) for recipe in recipes]
    stderrs = [proc.communicate()[1] for proc in procs]
    wall = time.perf_counter() - started
    results = [json.loads(p.read_text()) for p in sorted(runs_dir.glob(f"*/{RunDir.RESULTS}"))]
    for path in sorted(runs_dir.glob(f"*/{RunDir.RESULTS}")):
        settle_card(path.parent)  # each run's detached card maker writes into its run dir after the run
    problems = [f"{recipe}: exit {proc.returncode}: {err.strip().splitlines()[-1:] or ['no output']}"
                for recipe, proc, err in zip(recipes, procs, stderrs, strict=True) if proc.returncode != 0]
    if len(results) != count:
        problems.append(f"{count} runs wrote {len(results)} results.json")
    for data in results:
        if data["verdict"] != "pass" or data["teardown_leftovers"] != []:
            failed = [line for log in sorted(Path(data["run_dir"]).glob(RunDir.log_name("tier-*")))
                      for line in log.read_text().splitlines() if line.startswith(("FAILED", "ERROR", "E   "))][:12]
            problems.append(f"{data['run_id']} ({data['recipe']}): {data['verdict']}, error {data.get('error')!r}, "
                            f"leftovers {data['teardown_leftovers']}, {failed}")
    problems += [f"{p.parent.name}: harness traceback: {p.read_text().strip().splitlines()[-1]}"
                 for p in runs_dir.glob(f"*/{RunDir.log_name('traceback')}")]
    return wall, problems, results


def left_on_swarm(domain_base: str) -> list[str]:
    """Everything on the engine named for the batch's domain base (`<recipe>-<hex>_<base>`)."""
    marker = "_" + domain_base.replace(".", "_")
    client = docker_client()
    found = [f"service {s['Spec']['Name']}" for s in client.api.services() if marker in s["Spec"]["Name"]]
    found += [f"container {c['Names'][0]}" for c in client.api.containers(all=True) if marker in c["Names"][0]]
    for kind in ("volumes", "secrets", "configs", "networks"):
        found += [f"{kind[:-1]} {o.name}" for o in getattr(client, kind).list() if marker in (o.name or "")]
    return sorted(found)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--concurrency", type=int, default=16)
    parser.add_argument("--stages", default=",".join(ORDER), help="STAGES of every run (default: all five)")
    parser.add_argument("--recipes", default=DEFAULT_RECIPES,
                        help=f"comma list of recipes the runs take in turn (default: {DEFAULT_RECIPES})")
    args = parser.parse_args()
    recipes = [r.strip() for r in args.recipes.split(",") if r.strip()]
    domain_base = f"stress{uuid.uuid4().hex[:6]}.test"
    problems = []
    with tempfile.TemporaryDirectory(prefix="ccci-stress-") as tmp:
        alone = []
        for recipe in recipes:
            one_wall, one_problems, _ = run_batch([recipe], args.stages, Path(tmp) / f"one-{recipe}", domain_base)
            print(f"one run of {recipe} alone, STAGES={args.stages}: {one_wall:.1f}s")
            alone.append(one_wall)
            problems += one_problems
        one_wall = statistics.mean(alone)
        wall, batch_problems, results = run_batch(recipes_for(args.concurrency, recipes), args.stages,
                                                  Path(tmp) / "many", domain_base)
    problems += batch_problems
    left = left_on_swarm(domain_base)
    durations = [r["duration_s"] for r in results]
    teardowns = [r["teardown_s"] for r in results]
    print(f"{args.concurrency} runs at once ({', '.join(recipes)} in turn): {wall:.1f}s wall = {wall / one_wall:.1f}x one run "
          f"({wall / one_wall / args.concurrency:.2f}x per run)")
    if results:
        print(f"  each run: median {statistics.median(durations):.1f}s, max {max(durations):.1f}s; "
              f"teardown median {statistics.median(teardowns):.1f}s, max {max(teardowns):.1f}s")
        for recipe in recipes if len(recipes) > 1 else []:
            mine = [r["duration_s"] for r in results if r["recipe"] == recipe]
            if mine:
                print(f"  {recipe}: {len(mine)} run(s), median {statistics.median(mine):.1f}s, max {max(mine):.1f}s")
        for op in ORDER:
            done = [r["op_durations"][op] for r in results if op in r["op_durations"]]
            tiers = [t["duration_s"] for r in results for t in r["tiers"] if t["op"] == op and t["verdict"] != "skip"]
            if done:
                print(f"  {op}: op median {statistics.median(done):.1f}s max {max(done):.1f}s; "
                      f"tier median {statistics.median(tiers):.1f}s max {max(tiers):.1f}s")
    passed = sum(1 for r in results if r["verdict"] == "pass" and r["teardown_leftovers"] == [])
    print(f"  passed with a clean teardown: {passed}/{args.concurrency}; left on the swarm: {left or 'nothing'}")
    for problem in problems:
        print(f"  PROBLEM: {problem}")
    return 0 if not problems and not left and passed == args.concurrency else 1


if __name__ == "__main__":
    sys.exit(main())
