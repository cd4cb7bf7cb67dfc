"""The dashboard's runs as the bridge knows them: its job queue, each job read with its run dir
when the runs are local. The bridge builds this `Catalog` and hands it to the dashboard it hosts,
which reads runs through the protocol alone (the dashboard never imports the bridge)."""

from __future__ import annotations

import time
from pathlib import Path

from runner.bridge.store import Job, Store
from runner.dashboard.catalog import (
    RunEntry,
    RunsDirCatalog,
    entry_from_read,
    is_run_dir,
    newest_first,
)
from runner.run.readback import RunRead, read_run


class BridgeCatalog:
    """The bridge: its jobs, each read with its run dir when runs are local (`runs_dir`). Lists
    read run dirs through the runs dir's index (`RunsDirCatalog`, kept for the bridge's life);
    one run's page reads its dir."""

    def __init__(self, store: Store, runs_dir: Path | None, enrolled: list[str]) -> None:
        self.store = store
        self.runs_dir = runs_dir
        self._enrolled = enrolled
        self._runs = RunsDirCatalog(runs_dir) if runs_dir is not None else None

    def entries(self) -> list[RunEntry]:
        on_disk = self._runs.by_run_id() if self._runs is not None else {}
        jobs = [self._entry(job, on_disk.get(job.run_id)) for job in self.store.jobs()]
        # runs made in the same runs dir without a !testme (by hand, a scheduled default-branch
        # run, the catalogue's): what the badges follow
        known = {entry.run_id for entry in jobs}
        return newest_first(jobs + [entry for run_id, entry in on_disk.items() if run_id not in known])

    def entry(self, run_id: str) -> RunEntry | None:
        job = self.store.job_by_run_id(run_id)
        if job is not None:
            run_dir = self.runs_dir / job.run_id if self.runs_dir is not None else None
            run = read_run(run_dir) if run_dir is not None and is_run_dir(run_dir) else None
            return self._entry(job, entry_from_read(run) if run else None, run)
        return self._runs.entry(run_id) if self._runs is not None else None

    def enrolled(self) -> list[str]:
        return list(self._enrolled)

    def _entry(self, job: Job, found: RunEntry | None, run: RunRead | None = None) -> RunEntry:
        """The job, with what its run dir says (`found`, as listed; `run`, as its page reads it)."""
        end = job.finished_at or (time.time() if job.state == "running" else None)
        run_dir = found.run_dir if found else run.path if run else None
        if run_dir is None and job.state == "running" and self.runs_dir is not None and is_run_dir(self.runs_dir / job.run_id):
            run_dir = self.runs_dir / job.run_id  # just started: its dir names no recipe yet, its progress shows
        return RunEntry(
            run_id=job.run_id, recipe=job.recipe, state=job.state,
            verdict=(job.verdict or (found.verdict if found else None)) if job.state == "finished" else job.verdict,
            level=found.level if found else None, started_at=job.started_at, finished_at=job.finished_at,
            duration_s=(found.duration_s if found else None) or (end - job.started_at if end and job.started_at else None),
            pr=job.pr, ref=job.head_sha, run_dir=run_dir,
            stages=tuple(job.stages), follow_url=job.follow_url, detail=job.detail,
            unreadable=found.unreadable if found else run.unreadable if run else None, read=run,
        )
