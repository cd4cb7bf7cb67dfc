"""Which runs there are: one entry per run, from the bridge's job queue (with its run dirs when
the runs are local) or from a runs dir alone (`cc-ci serve`). Pages only ever read a Catalog."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from runner.bridge.store import RUN_ID_RE, Job, Store
from runner.ops import ORDER
from runner.run.readback import RunRead, read_run


@dataclass(frozen=True)
class RunEntry:
    run_id: str
    recipe: str
    state: str  # queued | running | finished | lost | cancelled
    verdict: str | None
    level: int | None
    started_at: float | None  # epoch seconds
    finished_at: float | None
    duration_s: float | None
    pr: int | None
    ref: str | None  # the commit or ref under test
    run_dir: Path | None  # None: the run is elsewhere (Drone) or not started
    stages: tuple[str, ...] = ()
    follow_url: str | None = None
    detail: str | None = None
    unreadable: str | None = None  # why (part of) its run dir could not be read: its row and page say so
    read: RunRead | None = None  # the run dir as read for this entry (the run page shows the rest of it)

    @property
    def default_branch(self) -> bool:
        """Not a PR's head: a run of the recipe's default branch (by hand, or scheduled)."""
        return self.pr is None and self.ref is None

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")


class Catalog(Protocol):
    def entries(self) -> list[RunEntry]:
        """Every run, newest first."""
        ...

    def entry(self, run_id: str) -> RunEntry | None: ...

    def enrolled(self) -> list[str]:
        """Recipes the index lists even before they have a run."""
        ...


def entry_from_run_dir(path: Path) -> RunEntry | None:
    """The run of a run dir; None when nothing in it says which recipe it ran (not a run yet)."""
    run = read_run(path)
    if run.recipe is None and run.unreadable is None:
        return None
    results = run.results
    return RunEntry(
        run_id=path.name, recipe=run.recipe or "", state=run.state,
        verdict=results.verdict if results else None, level=results.level if results else None,
        started_at=run.started_at, finished_at=run.finished_at,
        duration_s=results.duration_s if results else None,
        pr=results.pr if results else None, ref=results.ref if results else None, run_dir=path,
        # a run that just started has written neither: its tiers are looked for in lifecycle order
        stages=run.stages or ORDER, unreadable=run.unreadable, read=run,
    )


def _is_run_dir(path: Path) -> bool:
    """A run id's own directory: not a symlink to one elsewhere."""
    return RUN_ID_RE.match(path.name) is not None and path.is_dir() and not path.is_symlink()


class RunsDirCatalog:
    """`cc-ci serve`: every run dir under one folder."""

    def __init__(self, runs_dir: Path, enrolled: list[str] | None = None) -> None:
        self.runs_dir = runs_dir
        self._enrolled = enrolled or []

    def entries(self) -> list[RunEntry]:
        if not self.runs_dir.is_dir():
            return []
        found = [entry_from_run_dir(path) for path in self.runs_dir.iterdir() if _is_run_dir(path)]
        return _newest_first([entry for entry in found if entry is not None])

    def entry(self, run_id: str) -> RunEntry | None:
        if not _is_run_dir(self.runs_dir / run_id):
            return None
        return entry_from_run_dir(self.runs_dir / run_id)

    def enrolled(self) -> list[str]:
        return list(self._enrolled)


class BridgeCatalog:
    """The bridge: its jobs, each read with its run dir when runs are local (`runs_dir`)."""

    def __init__(self, store: Store, runs_dir: Path | None, enrolled: list[str]) -> None:
        self.store = store
        self.runs_dir = runs_dir
        self._enrolled = enrolled

    def entries(self) -> list[RunEntry]:
        jobs = [self._entry(job) for job in self.store.jobs()]
        # runs made in the same runs dir without a !testme (by hand, a scheduled default-branch
        # run): what the badges follow
        known = {entry.run_id for entry in jobs}
        by_hand = [entry for entry in RunsDirCatalog(self.runs_dir).entries() if entry.run_id not in known] \
            if self.runs_dir is not None else []
        return _newest_first(jobs + by_hand)

    def entry(self, run_id: str) -> RunEntry | None:
        job = self.store.job_by_run_id(run_id)
        if job is not None:
            return self._entry(job)
        return RunsDirCatalog(self.runs_dir).entry(run_id) if self.runs_dir is not None else None

    def enrolled(self) -> list[str]:
        return list(self._enrolled)

    def _entry(self, job: Job) -> RunEntry:
        run_dir = self.runs_dir / job.run_id if self.runs_dir is not None else None
        run = read_run(run_dir) if run_dir is not None and _is_run_dir(run_dir) else None
        results = run.results if run else None
        end = job.finished_at or (time.time() if job.state == "running" else None)
        verdict = results.verdict if results else None
        return RunEntry(
            run_id=job.run_id, recipe=job.recipe, state=job.state,
            verdict=(job.verdict or verdict) if job.state == "finished" else job.verdict,
            level=results.level if results else None, started_at=job.started_at, finished_at=job.finished_at,
            duration_s=(results.duration_s if results else None) or (end - job.started_at if end and job.started_at else None),
            pr=job.pr, ref=job.head_sha, run_dir=run.path if run else None,
            stages=tuple(job.stages), follow_url=job.follow_url, detail=job.detail,
            unreadable=run.unreadable if run else None, read=run,
        )


def _newest_first(entries: list[RunEntry]) -> list[RunEntry]:
    return sorted(entries, key=lambda e: (e.started_at or 0.0, e.run_id), reverse=True)


def latest_by_recipe(entries: list[RunEntry]) -> dict[str, RunEntry]:
    """Each recipe's newest run that has ended (entries newest first)."""
    latest: dict[str, RunEntry] = {}
    for entry in entries:
        if not entry.active:
            latest.setdefault(entry.recipe, entry)
    return latest


def level_changes(history: list[RunEntry]) -> dict[str, tuple[int, int]]:
    """run id -> (level before, level now) where a finished run's level differs from the previous
    finished run's (history newest first)."""
    changes: dict[str, tuple[int, int]] = {}
    rated = [e for e in reversed(history) if e.state == "finished" and isinstance(e.level, int)]
    for before, now in zip(rated, rated[1:], strict=False):
        if before.level != now.level:
            changes[now.run_id] = (before.level, now.level)  # type: ignore[assignment]
    return changes
