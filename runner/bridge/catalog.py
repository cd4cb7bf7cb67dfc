"""The dashboard's runs as the bridge knows them: its job queue, each job read with its run dir
when the runs are local. The bridge builds this `Catalog` and hands it to the dashboard it hosts,
which reads runs through the protocol alone (the dashboard never imports the bridge)."""

from __future__ import annotations

import time
from pathlib import Path

from runner.bridge.store import Job, Store
from runner.dashboard.catalog import RunEntry, RunsDirCatalog, is_run_dir, newest_first
from runner.run.readback import read_run


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
        return newest_first(jobs + by_hand)

    def entry(self, run_id: str) -> RunEntry | None:
        job = self.store.job_by_run_id(run_id)
        if job is not None:
            return self._entry(job)
        return RunsDirCatalog(self.runs_dir).entry(run_id) if self.runs_dir is not None else None

    def enrolled(self) -> list[str]:
        return list(self._enrolled)

    def _entry(self, job: Job) -> RunEntry:
        run_dir = self.runs_dir / job.run_id if self.runs_dir is not None else None
        run = read_run(run_dir) if run_dir is not None and is_run_dir(run_dir) else None
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
