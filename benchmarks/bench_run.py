"""Benchmark: where a run's wall time goes, and an install run against the same docker work by hand.

1. `--runs` full runs of the example with `--stages` (default every op of the lifecycle: lint, the five, idempotent, restore-fresh): wall time of the whole
   process, each op, each tier's pytest, teardown, time waiting on docker/restic (results.json
   `waits_s`) and the harness's own share = wall - waits, broken down by phase: start-up (interpreter
   and imports, results.json `startup_s`), clone, check, planning, the op calls (deploy, backup, …),
   the tiers' pytest, teardown (each a phase's wall - its waits, `phases_s`), report and exit (the
   process's wall after the run's own duration), and what no phase holds (other).
   A wait is time the run's own path spends blocked on the engine or restic: every engine request
   on the run's main thread (not the camera's or the heartbeat's), a command run in a container,
   convergence and archive streams, restic; a tier's pytest counts its own fixtures' waits the same
   way and reports them to the run (plumbing/timing.py `credit`), bounded by the tier's wall time.
2. `--pairs` install runs and yardstick runs (benchmarks/raw_install_custom_html_tiny.sh) in turn,
   A B A B, each a whole process: medians and the median of the pair-by-pair ratios (target 1.2), and the harness's share of the
   install runs by phase.
   A run's summary card is drawn by a detached process after its verdict: not part of the run's
   wall time, and waited for (uncounted) before the next process starts. `CCCI_PICTURES=0` measures
   runs without screenshots and card.

Prints figures; asserts only that every run passed. `python benchmarks/bench_run.py [--stages install]`
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from runner.ops import ORDER  # noqa: E402
from runner.pictures.card import card_state  # noqa: E402
from runner.recipe.repos import bundled_recipe_repo  # noqa: E402
from runner.run.rundir import RunDir  # noqa: E402

YARDSTICK = REPO / "benchmarks" / "raw_install_custom_html_tiny.sh"
TARGET_RATIO = 1.2
TARGET_SHARE = 0.10  # of a full run's wall time
# results.json `phases_s`, in the order a run passes them, as the breakdown names them
PHASES = {"clone": "clone", "check": "check", "planning": "planning", "op": "op calls (deploy, …)",
          "tier": "tier pytest", "teardown": "teardown"}


def harness_run(runs_dir: Path, stages: str, must_pass: bool = True) -> tuple[float, dict[str, Any]]:
    """One run as an operator starts it; its wall time and results.json."""
    env = {**os.environ, "RECIPE": "custom-html-tiny", "STAGES": stages, "CCCI_RUNS_DIR": str(runs_dir)}
    before = set(runs_dir.glob(f"*/{RunDir.RESULTS}"))
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "runner.run_recipe_ci"], cwd=REPO, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - started
    (results,) = set(runs_dir.glob(f"*/{RunDir.RESULTS}")) - before
    settle_card(results.parent)
    data = json.loads(results.read_text())
    if done.returncode != 0 and must_pass:
        raise SystemExit(f"run failed (exit {done.returncode}): {data.get('error')}\n{done.stderr[-2000:]}")
    return wall, data


def settle_card(run_dir: Path, timeout_s: float = 60.0) -> None:
    """Wait (uncounted) for the run's detached card maker: the run's wall time ends without it,
    but its Chromium must not slow the next process measured."""
    deadline = time.monotonic() + timeout_s
    while card_state(run_dir) == "making" and time.monotonic() < deadline:
        time.sleep(0.1)


def yardstick_run(fixture: Path) -> tuple[float, float, float]:
    """The same docker work by hand: wall, converge and teardown seconds."""
    started = time.perf_counter()
    done = subprocess.run(["bash", str(YARDSTICK), str(fixture)], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    found = re.search(r"converge ([\d.]+)s teardown ([\d.]+)s", done.stdout)
    if not found:
        raise SystemExit(f"yardstick printed no figures: {done.stdout!r} {done.stderr!r}")
    return wall, float(found[1]), float(found[2])


def med(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f}s" if values else "     -"


def spread(values: list[float]) -> str:
    return f"median {med(values)}  min {min(values):.2f}s  max {max(values):.2f}s"


def breakdown(stages: str, runs: int, runs_dir: Path) -> None:
    rows = [harness_run(runs_dir, stages, must_pass=False) for _ in range(runs)]
    walls = [wall for wall, _ in rows]
    print(f"full run, STAGES={stages}, {runs} run(s), medians:")
    for _, data in rows:
        if data["verdict"] != "pass":  # e.g. an op not implemented yet: its figures are missing
            print(f"  (a run ended {data['verdict']}: {data.get('error')})")
    print(f"  wall (whole process)       {spread(walls)}")
    for op in ORDER:
        done = [data["op_durations"][op] for _, data in rows if op in data["op_durations"]]
        tiers = [t["duration_s"] for _, data in rows for t in data["tiers"] if t["op"] == op and t["verdict"] != "skip"]
        if done or tiers:
            print(f"  {op:<8} op {med(done)}   tier (pytest) {med(tiers)}")
    print(f"  teardown                   {med([data['teardown_s'] for _, data in rows])}")
    kinds = sorted({kind for _, data in rows for kind in data.get("waits_s", {})})
    for kind in kinds:
        print(f"  waiting on {kind:<15} {med([data['waits_s'].get(kind, 0.0) for _, data in rows])}")
    print("  harness's own share by phase (wall - waits), medians:")
    print_share(rows)


def harness_share(wall: float, data: dict[str, Any]) -> dict[str, float]:
    """Where the harness's own time (wall - waits) went in one run, phase by phase; the rows sum
    to the share."""
    phases = data.get("phases_s", {})
    waited = sum(data.get("waits_s", {}).values())
    startup = data.get("startup_s") or 0.0
    rows = {"start-up (imports)": startup}
    rows |= {label: phases[key]["wall_s"] - phases[key]["waits_s"] for key, label in PHASES.items() if key in phases}
    in_phases = sum(p["wall_s"] for p in phases.values())
    waited_outside = waited - sum(p["waits_s"] for p in phases.values())
    rows["other (lock, pictures)"] = data["duration_s"] - in_phases - waited_outside
    rows["report and exit"] = wall - startup - data["duration_s"]
    return rows


def print_share(rows: list[tuple[float, dict[str, Any]]]) -> None:
    """The median of each phase's harness share, and the share of the wall time."""
    shares = [harness_share(wall, data) for wall, data in rows]
    for label in shares[0]:
        print(f"    {label:<24} {med([share.get(label, 0.0) for share in shares])}")
    own = [wall - sum(data.get("waits_s", {}).values()) for wall, data in rows]
    percent = [100 * o / wall for o, (wall, _) in zip(own, rows, strict=True)]
    print(f"  harness's own share        {med(own)}  = {statistics.median(percent):.1f} % of the wall time "
          f"(target <= {100 * TARGET_SHARE:.0f} %)")


def side_by_side(pairs: int, runs_dir: Path) -> None:
    fixture = bundled_recipe_repo("custom-html-tiny")
    harness_run(runs_dir, "install")  # warm-up, not counted: page cache, images, first-use costs
    yardstick_run(fixture)
    ours: list[float] = []
    theirs: list[tuple[float, float, float]] = []
    installs: list[dict[str, Any]] = []
    for _ in range(pairs):
        wall, data = harness_run(runs_dir, "install")
        ours.append(wall)
        installs.append(data)
        theirs.append(yardstick_run(fixture))
    ratios = [a / b[0] for a, b in zip(ours, theirs, strict=True)]
    print("harness's own share of the install runs by phase (wall - waits), medians:")
    print_share(list(zip(ours, installs, strict=True)))
    print(f"install run vs the same docker work by hand, {pairs} pairs in turn:")
    print(f"  harness install run        {spread(ours)}")
    print(f"    converge (install op)    {med([d['op_durations']['install'] for d in installs])}   "
          f"tier {med([t['duration_s'] for d in installs for t in d['tiers'] if t['op'] == 'install'])}   "
          f"teardown {med([d['teardown_s'] for d in installs])}")
    print(f"  by hand (yardstick)        {spread([t[0] for t in theirs])}")
    print(f"    converge                 {med([t[1] for t in theirs])}   teardown {med([t[2] for t in theirs])}")
    print(f"  ratio harness/by hand      median {statistics.median(ratios):.2f}  "
          f"min {min(ratios):.2f}  max {max(ratios):.2f}  (target <= {TARGET_RATIO})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", default=",".join(ORDER), help="STAGES of the full runs (default: every op of the lifecycle)")
    parser.add_argument("--runs", type=int, default=3, help="full runs (default 3; 0 skips them)")
    parser.add_argument("--pairs", type=int, default=5, help="install/yardstick pairs (default 5; 0 skips them)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ccci-bench-") as tmp:
        if args.runs:
            breakdown(args.stages, args.runs, Path(tmp))
        if args.pairs:
            side_by_side(args.pairs, Path(tmp))


if __name__ == "__main__":
    main()
