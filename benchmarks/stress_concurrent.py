"""Stress: N runs of the example at once on the one swarm. Every run must pass and tear down clean,
and nothing of theirs may be left on the swarm afterwards; prints the wall time against one run.

`python benchmarks/stress_concurrent.py [-n 16] [--stages install,upgrade,backup,restore,custom]`
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

from runner.harness.docker_client import docker_client  # noqa: E402
from runner.ops import ORDER  # noqa: E402


def start_run(runs_dir: Path, stages: str, domain_base: str) -> subprocess.Popen[str]:
    env = {**os.environ, "RECIPE": "custom-html-tiny", "STAGES": stages, "CCCI_RUNS_DIR": str(runs_dir),
           "CCCI_DOMAIN_BASE": domain_base}
    return subprocess.Popen([sys.executable, "-m", "runner.run_recipe_ci"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def run_batch(count: int, stages: str, runs_dir: Path, domain_base: str) -> tuple[float, list[str], list[dict[str, Any]]]:
    """`count` runs at once: wall time, problems found, and each run's results.json."""
    started = time.perf_counter()
    procs = [start_run(runs_dir, stages, domain_base) for _ in range(count)]
    stderrs = [proc.communicate()[1] for proc in procs]
    wall = time.perf_counter() - started
    results = [json.loads(p.read_text()) for p in sorted(runs_dir.glob("*/results.json"))]
    problems = [f"exit {proc.returncode}: {err.strip().splitlines()[-1:] or ['no output']}"
                for proc, err in zip(procs, stderrs, strict=True) if proc.returncode != 0]
    if len(results) != count:
        problems.append(f"{count} runs wrote {len(results)} results.json")
    for data in results:
        if data["verdict"] != "pass" or data["teardown_leftovers"] != []:
            failed = [line for log in sorted(Path(data["run_dir"]).glob("logs/tier-*.log"))
                      for line in log.read_text().splitlines() if line.startswith(("FAILED", "ERROR", "E   "))][:12]
            problems.append(f"{data['run_id']}: {data['verdict']}, error {data.get('error')!r}, "
                            f"leftovers {data['teardown_leftovers']}, {failed}")
    problems += [f"{p.parent.name}: harness traceback: {p.read_text().strip().splitlines()[-1]}"
                 for p in runs_dir.glob("*/logs/traceback.log")]
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
    args = parser.parse_args()
    domain_base = f"stress{uuid.uuid4().hex[:6]}.test"
    with tempfile.TemporaryDirectory(prefix="ccci-stress-") as tmp:
        one_wall, one_problems, one = run_batch(1, args.stages, Path(tmp) / "one", domain_base)
        print(f"one run alone, STAGES={args.stages}: {one_wall:.1f}s")
        wall, problems, results = run_batch(args.concurrency, args.stages, Path(tmp) / "many", domain_base)
    problems = one_problems + problems
    left = left_on_swarm(domain_base)
    durations = [r["duration_s"] for r in results]
    teardowns = [r["teardown_s"] for r in results]
    print(f"{args.concurrency} runs at once: {wall:.1f}s wall = {wall / one_wall:.1f}x one run "
          f"({wall / one_wall / args.concurrency:.2f}x per run)")
    if results:
        print(f"  each run: median {statistics.median(durations):.1f}s, max {max(durations):.1f}s; "
              f"teardown median {statistics.median(teardowns):.1f}s, max {max(teardowns):.1f}s")
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
