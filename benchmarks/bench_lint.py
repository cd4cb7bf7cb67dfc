"""Benchmark: `cc-ci lint` on the bundled example, in process, once and then N times more.
Prints the median and the slowest; exit 1 when the median is 0.5 s or more ("well under a
second"). Run it by hand on a quiet machine: the parallel test suite shares two cores between four
workers, where a wall-clock bound of 0.5 s cannot hold, so it is no test.

    .venv/bin/python benchmarks/bench_lint.py [--times 9]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runner.commands import lint as lint_command  # noqa: E402
from runner.recipe.repos import bundled_recipe_repo  # noqa: E402

BUDGET_S = 0.5
ARGS = ["custom-html-tiny", "--opt-out", "CCCI-L09=lightweight fixture tags"]


def _lint_once() -> float:
    parser = argparse.ArgumentParser()
    lint_command.add_arguments(parser)
    started = time.monotonic()
    with contextlib.redirect_stdout(io.StringIO()):
        code = lint_command.main(parser.parse_args(ARGS))
    took = time.monotonic() - started
    if code != 0:
        raise SystemExit(f"bench_lint: cc-ci lint exited {code} on the example")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--times", type=int, default=9)
    args = parser.parse_args()
    bundled_recipe_repo("custom-html-tiny")  # built once per machine; not lint's time
    first = _lint_once()  # lint's own imports happen here
    took = [_lint_once() for _ in range(args.times)]
    median = statistics.median(took)
    print(f"cc-ci lint on custom-html-tiny: first {first:.3f}s, then median {median:.3f}s, slowest "
          f"{max(took):.3f}s over {args.times} (budget: median under {BUDGET_S}s)")
    return 0 if median < BUDGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
