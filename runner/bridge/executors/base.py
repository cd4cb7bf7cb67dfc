"""The one interface every executor implements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from runner.bridge.store import Job

VERDICTS = frozenset({"pass", "fail", "error", "empty"})


@dataclass(frozen=True)
class Started:
    external_id: str  # what lets a restarted bridge find the run again (pid, Drone build number)
    follow_url: str | None = None  # where a human follows the run, when the executor has one


@dataclass(frozen=True)
class Outcome:
    verdict: str  # "pass" | "fail" | "error" | "empty"
    summary: str  # markdown for the PR comment


class Executor(Protocol):
    name: str
    capacity: int

    def execute(self, job: Job, on_started: Callable[[Started], None]) -> Outcome:
        """Run `job` (or re-attach to it when `job.external_id` is set) and block until it ends."""
        ...

    def can_resume(self, job: Job) -> bool:
        """After a bridge restart: can `execute` re-attach to this job's run instead of re-running it?"""
        ...

    def reclaim(self, job: Job) -> bool:
        """Before a job whose run died with the bridge is run again (or given up): remove what
        the dead attempt left on the swarm. True once done; False when this executor has nothing
        to reclaim; raises when reclaiming failed (the caller logs it)."""
        ...

    def cancel_all(self) -> None:
        """Stop every run this executor started (used when tests tear a bridge down)."""
        ...
