"""Benchmark: the dashboard's `/`, a recipe page, a badge and `/catalogue` over N run dirs (default
1000, 20 recipes) and a catalogue history of 10 catalogue runs, served in-process (Starlette's test
client, no network). Prints p50/p95 per page. Not a timed test: run it by hand.

    .venv/bin/python benchmarks/bench_dashboard_pages.py [--runs 1000] [--requests 50]

Today the pages rescan every run dir per request (issue 23 point 7 asks for an index kept up to
date when a run ends, and 50 ms p95 at 1000 run dirs): this prints where they stand.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the run dirs are made as the dashboard's tests make them

from runner.dashboard.catalog import RunsDirCatalog  # noqa: E402
from runner.dashboard.pages import serve_app  # noqa: E402
from tests.unit.test_dashboard import BROWSER_ACCEPT, make_run  # noqa: E402
from tests.unit.test_dashboard_catalogue import write_history  # noqa: E402

RECIPES = 20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ccci-bench-pages-") as tmp:
        runs = Path(tmp) / "runs"
        for index in range(args.runs):
            make_run(runs, f"20260101-{index:06d}-{index:06x}", recipe=f"recipe-{index % RECIPES}",
                     verdict="pass" if index % 7 else "fail", mtime=1_000_000 + index)
        history = Path(tmp) / "catalogue.sqlite"
        for _ in range(5):  # 10 catalogue runs
            write_history(history, time.time())
        client = TestClient(serve_app(RunsDirCatalog(runs), history=history))
        print(f"{args.runs} run dirs, {RECIPES} recipes, {args.requests} requests per page")
        for path in ("/", "/recipes/recipe-3", "/badge/recipe-3.svg", "/catalogue", "/catalogue.json"):
            took = []
            for _ in range(args.requests):
                started = time.perf_counter()
                answer = client.get(path, headers={"Accept": BROWSER_ACCEPT})
                took.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200, (path, answer.status_code)
            p95 = statistics.quantiles(took, n=20)[-1]
            print(f"{path:24} p50 {statistics.median(took):8.1f} ms   p95 {p95:8.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
