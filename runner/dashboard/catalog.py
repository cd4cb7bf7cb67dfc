"""Which runs there are: one entry per run, from the bridge's job queue (with its run dirs when
the runs are local) or from a runs dir alone (`cc-ci serve`). Pages only ever read a Catalog."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from runner.bridge.store import RUN_ID_RE, Job, Store
from runner.dashboard.runview import read_json, recipe_of
from runner.harness.runlock import run_is_alive
from runner.ops import ORDER


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
    results = read_json(path / "results.json")
    results = results if isinstance(results, dict) else {}
    recipe = recipe_of(path)
    if recipe is None:
        return None
    alive = run_is_alive(path)
    finished_at = _mtime(path / "results.json") if results and not alive else None
    duration = results.get("duration_s") if isinstance(results.get("duration_s"), int | float) else None
    started = finished_at - duration if finished_at and duration else _mtime(path / "logs")
    return RunEntry(
        run_id=path.name, recipe=recipe,
        state="running" if alive else "finished" if results else "lost",
        verdict=results.get("verdict"), level=results.get("level"),
        started_at=started, finished_at=finished_at, duration_s=duration,
        pr=results.get("pr"), ref=results.get("ref"), run_dir=path,
        # a run that just started has written neither: its tiers are looked for in lifecycle order
        stages=tuple(results.get("stages") or _stages_of(path) or ORDER),
    )


def _stages_of(path: Path) -> tuple[str, ...]:
    """The run's stages before its results exist: from run.json (written before the first op),
    else its op state."""
    for name in ("run.json", "op_state.json"):
        data = read_json(path / name)
        if isinstance(data, dict) and data.get("stages"):
            return tuple(data["stages"])
    return ()


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


class RunsDirCatalog:
    """`cc-ci serve`: every run dir under one folder."""

    def __init__(self, runs_dir: Path, enrolled: list[str] | None = None) -> None:
        self.runs_dir = runs_dir
        self._enrolled = enrolled or []

    def entries(self) -> list[RunEntry]:
        if not self.runs_dir.is_dir():
            return []
        found = [entry_from_run_dir(path) for path in self.runs_dir.iterdir()
                 if path.is_dir() and RUN_ID_RE.match(path.name)]
        return _newest_first([entry for entry in found if entry is not None])

    def entry(self, run_id: str) -> RunEntry | None:
        if not RUN_ID_RE.match(run_id) or not (self.runs_dir / run_id).is_dir():
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
        results: dict[str, Any] = {}
        if run_dir is not None and (data := read_json(run_dir / "results.json")) and isinstance(data, dict):
            results = data
        end = job.finished_at or (time.time() if job.state == "running" else None)
        return RunEntry(
            run_id=job.run_id, recipe=job.recipe, state=job.state,
            verdict=(job.verdict or results.get("verdict")) if job.state == "finished" else job.verdict,
            level=results.get("level"), started_at=job.started_at, finished_at=job.finished_at,
            duration_s=results.get("duration_s") or (end - job.started_at if end and job.started_at else None),
            pr=job.pr, ref=job.head_sha, run_dir=run_dir if run_dir and run_dir.is_dir() else None,
            stages=tuple(job.stages), follow_url=job.follow_url, detail=job.detail,
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
