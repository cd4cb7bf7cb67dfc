"""Spreading a catalogue's runs over its targets: at most `jobs` at once, each target at most its
limit, the next run on the target with the most free room. A failed run is run once more from
scratch (the retry decides flaky). A run that could not be made (infrastructure, exit 3) on a
target that then does not answer takes that target out: its recipe, and every recipe still
waiting, run on the targets left, and the notes say so.

Pure of processes: handed `run_on(target) -> RunOne` and `probe(target) -> bool`, so unit tests
drive it with fakes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path

from runner.catalogue.file import TargetEntry
from runner.catalogue.model import CatalogueRecipe, RunOne, RunOutcome, Say
from runner.errors import EXIT_BAD_INPUT, EXIT_INFRA

RunOn = Callable[[str], RunOne]  # the RunOne that runs on a target
Probe = Callable[[str], bool]  # does the target answer?


@dataclass(frozen=True)
class _Job:
    recipe: CatalogueRecipe
    retry: bool = False  # the second run, from scratch, after a failure
    moved_from: str | None = None


@dataclass
class Done:
    """A recipe's runs: its first, and the retry after a failure; none when none could be made."""

    recipe: CatalogueRecipe
    outcomes: list[RunOutcome] = field(default_factory=list)
    moved_from: str | None = None
    error: str | None = None  # why no run (or no retry) could be made


@dataclass
class Schedule:
    targets: Sequence[TargetEntry]
    jobs: int
    run_on: RunOn
    probe: Probe
    retry: bool
    say: Say
    notes: list[str] = field(default_factory=list)  # targets that went down, and where their recipes went

    def __post_init__(self) -> None:
        self._running = {t.target: 0 for t in self.targets}
        self._down: set[str] = set()

    def run(self, recipes: Sequence[CatalogueRecipe], on_done: Callable[[Done], None]) -> list[Done]:
        queue = deque(_Job(recipe) for recipe in recipes)
        done: dict[str, Done] = {recipe.name: Done(recipe) for recipe in recipes}
        in_flight: dict[Future[RunOutcome], tuple[_Job, str]] = {}
        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="catalogue") as pool:
            while queue or in_flight:
                while queue and len(in_flight) < self.jobs and (target := self._pick()) is not None:
                    job = queue.popleft()
                    self._running[target] += 1
                    self.say(f"{job.recipe.name}: {'retrying from scratch' if job.retry else 'running'} on {target}")
                    in_flight[pool.submit(self._one, job, target)] = (job, target)
                if not in_flight:  # work left, and no target up to take it
                    for job in queue:
                        self._finish(done[job.recipe.name], on_done, error=f"no target left up ({self._down_text()})")
                    break
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in finished:
                    job, target = in_flight.pop(future)
                    self._running[target] -= 1
                    self._settle(job, target, future.result(), queue, done[job.recipe.name], on_done)
        return [done[recipe.name] for recipe in recipes]

    def up(self) -> list[str]:
        """The targets not taken out, in the order listed."""
        return [t.target for t in self.targets if t.target not in self._down]

    def _one(self, job: _Job, target: str) -> RunOutcome:
        try:
            return self.run_on(target)(job.recipe, job.recipe.ref or "", job.recipe.stages)
        except Exception as err:  # noqa: BLE001 - one recipe's failure to start is its row, not the catalogue's end
            return RunOutcome(level=0, verdict="error", run_id="", run_dir=Path(), exit_code=EXIT_INFRA,
                              target=target, error=f"the run could not be started: {' '.join(str(err).split())[:200]}")

    def _settle(self, job: _Job, target: str, outcome: RunOutcome, queue: deque[_Job], entry: Done,
                on_done: Callable[[Done], None]) -> None:
        if _maybe_the_target(outcome) and target not in self._down and not self.probe(target):
            self._down.add(target)
            left = [t.target for t in self.targets if t.target not in self._down]
            self.notes.append(f"target {target} went down; the recipes left run on {', '.join(left) or 'no target'}")
            self.say(self.notes[-1])
        if target in self._down and _maybe_the_target(outcome):
            queue.appendleft(replace(job, moved_from=target))  # not the recipe's fault: run it elsewhere
            entry.moved_from = target
            return
        entry.outcomes.append(outcome)
        if not outcome.passed and self.retry and not job.retry and outcome.exit_code != EXIT_BAD_INPUT:
            # a refused run (bad input: nothing deployed) fails again the same way: no retry
            queue.append(replace(job, retry=True, moved_from=None))
            return
        self._finish(entry, on_done)

    def _finish(self, entry: Done, on_done: Callable[[Done], None], error: str | None = None) -> None:
        entry.error = error
        on_done(entry)

    def _pick(self) -> str | None:
        """The target up with the most free room (the first listed among equals), None when all are full."""
        free = [(self._limit(t) - self._running[t.target], -i, t.target)
                for i, t in enumerate(self.targets) if t.target not in self._down]
        best = max(free, default=None)
        return best[2] if best is not None and best[0] > 0 else None

    def _limit(self, target: TargetEntry) -> int:
        return min(target.limit or self.jobs, self.jobs)

    def _down_text(self) -> str:
        return ", ".join(sorted(self._down)) + " down" if self._down else "none listed"



def _maybe_the_target(outcome: RunOutcome) -> bool:
    """A run that may have failed for its target's sake: an infrastructure failure (exit 3), or a
    run that never reached the recipe's commit (a target that refuses the connection is bad input,
    exit 2, before anything is cloned). The probe then decides."""
    return outcome.exit_code == EXIT_INFRA or (not outcome.passed and outcome.commit is None)
