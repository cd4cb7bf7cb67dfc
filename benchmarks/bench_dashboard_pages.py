"""Benchmark: the dashboard's `/`, a recipe page, a badge and `/catalogue` over N run dirs (default
1000, 20 recipes) and a catalogue history of 10 catalogue runs, served in-process (Starlette's test
client, no network). Prints p50/p95 per page. Not a timed test: run it by hand.

    .venv/bin/python benchmarks/bench_dashboard_pages.py [--runs 1000] [--requests 50]

Each run's row is written into the runs dir's index as a run writes it when it ends
(`runindex.record_run`); the pages read the index (issue 23 point 7: 50 ms p95 at 1000 run dirs).
Beside each list page: the same page over a rescan of every run dir per request (what the pages
did before the index, and still do for a run dir the index lacks), and the first request over
a runs dir without an index (it reads every dir once and catches the index up).
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

from runner.dashboard.catalog import (  # noqa: E402
    RunEntry,
    RunsDirCatalog,
    entry_from_run_dir,
    is_run_dir,
    newest_first,
)
from runner.dashboard.pages import serve_app  # noqa: E402
from runner.run.runindex import index_path, record_run  # noqa: E402
from tests.unit.test_dashboard import BROWSER_ACCEPT, make_run  # noqa: E402
from tests.unit.test_dashboard_catalogue import write_history  # noqa: E402

RECIPES = 20
LIST_PAGES = ("/", "/recipes/recipe-3", "/badge/recipe-3.svg")


class RescanCatalog(RunsDirCatalog):
    """The pages before the index: every run dir read on each request."""

    def entries(self) -> list[RunEntry]:
        found = [entry_from_run_dir(path) for path in self.runs_dir.iterdir() if is_run_dir(path)]
        return newest_first([entry for entry in found if entry is not None])


def percentiles(client: TestClient, path: str, requests: int) -> tuple[float, float]:
    took = []
    for _ in range(requests):
        started = time.perf_counter()
        answer = client.get(path, headers={"Accept": BROWSER_ACCEPT})
        took.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, (path, answer.status_code)
    return statistics.median(took), statistics.quantiles(took, n=20)[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ccci-bench-pages-") as tmp:
        runs = Path(tmp) / "runs"
        made = []
        for index in range(args.runs):
            made.append(make_run(runs, f"20260101-{index:06d}-{index:06x}", recipe=f"recipe-{index % RECIPES}",
                                 verdict="pass" if index % 7 else "fail", mtime=1_000_000 + index))
        history = Path(tmp) / "catalogue.sqlite"
        for _ in range(5):  # 10 catalogue runs
            write_history(history, time.time())
        print(f"{args.runs} run dirs, {RECIPES} recipes, {args.requests} requests per page")
        started = time.perf_counter()
        TestClient(serve_app(RunsDirCatalog(runs), history=history)).get("/", headers={"Accept": BROWSER_ACCEPT})
        print(f"first / without an index (reads every dir, writes the index): {(time.perf_counter() - started) * 1000:.0f} ms")
        index_path(runs).unlink()
        started = time.perf_counter()
        for run in made:
            record_run(run)
        print(f"index written as runs end: {(time.perf_counter() - started) * 1000 / len(made):.2f} ms per run")
        indexed = TestClient(serve_app(RunsDirCatalog(runs), history=history))
        rescan = TestClient(serve_app(RescanCatalog(runs), history=history))
        print(f"{'':24} {'index p50':>10} {'p95':>8}   {'rescan p50':>10} {'p95':>8}")
        for path in (*LIST_PAGES, "/catalogue", "/catalogue.json"):
            p50, p95 = percentiles(indexed, path, args.requests)
            line = f"{path:24} {p50:7.1f} ms {p95:5.1f} ms"
            if path in LIST_PAGES:
                r50, r95 = percentiles(rescan, path, max(5, args.requests // 5))
                line += f"   {r50:7.1f} ms {r95:5.1f} ms"
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
