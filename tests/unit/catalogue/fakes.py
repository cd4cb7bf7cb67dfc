"""A fake RunOne for the catalogue's tests: each recipe's runs answer from a script, no process."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from runner.catalogue.model import CatalogueRecipe, RunOne, RunOutcome

# (level, verdict, exit code, commit): one run's answer
Answer = tuple[int, str, int, str | None]
PASS_L1: Answer = (1, "pass", 0, "c1")


@dataclass
class FakeRuns:
    """`answers[recipe]`: its runs' answers in order (the last repeats); a target in `down` answers
    every run with exit 3 and no results, and the probe says it is down."""

    answers: dict[str, list[Answer]] = field(default_factory=dict)
    down: set[str] = field(default_factory=set)
    hold_s: float = 0.0  # how long a run takes: lets runs overlap
    down_answer: Answer = (0, "error", 3, None)  # what a run on a target that is down ends with
    calls: list[tuple[str, str, str, str]] = field(default_factory=list)  # (recipe, target, commit, stages)
    running: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    most: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # peak runs at once, per target and "all"
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run_on(self, target: str) -> RunOne:
        def run_one(recipe: CatalogueRecipe, commit: str, stages: str) -> RunOutcome:
            with self._lock:
                self.calls.append((recipe.name, target, commit, stages))
                n = sum(1 for call in self.calls if call[0] == recipe.name and call[1] not in self.down)
                for key in (target, "all"):
                    self.running[key] += 1
                    self.most[key] = max(self.most[key], self.running[key])
            try:
                time.sleep(self.hold_s)
                run_id = f"{recipe.name}-{len(self.calls)}"
                if target in self.down:
                    level, verdict, code, sha = self.down_answer
                    return RunOutcome(level, verdict, run_id, Path("/runs") / run_id, exit_code=code, commit=sha,
                                      target=target, error="cannot connect")
                script = self.answers.get(recipe.name, [PASS_L1])
                level, verdict, code, sha = script[min(n, len(script)) - 1]
                return RunOutcome(level, verdict, run_id, Path("/runs") / run_id, exit_code=code, commit=sha,
                                  target=target, error=None if verdict == "pass" else f"{verdict} here")
            finally:
                with self._lock:
                    self.running[target] -= 1
                    self.running["all"] -= 1
        return run_one

    def probe(self, target: str) -> bool:
        return target not in self.down

    def targets_of(self, recipe: str) -> list[str]:
        return [call[1] for call in self.calls if call[0] == recipe]


def recipes(*names: str, stages: str = "install") -> tuple[CatalogueRecipe, ...]:
    return tuple(CatalogueRecipe(name=name, stages=stages) for name in names)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


Say = Callable[[str], None]
