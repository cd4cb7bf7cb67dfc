"""What the operator's endpoints show, as plain JSON-able dicts built from the store, the forge
client and the run dirs: `/healthz`, `/runs` (a page of runs, newest first), `/runs/<id>`.

These are the JSON representations; the HTTP side (webhook.py) serves them. Keys are only ever
added, never renamed, so clients keep working as the pages grow (an HTML view for browsers may
be negotiated later through `Accept`; JSON stays the default).
"""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from runner.bridge.forge.client import ForgeClient
from runner.bridge.store import Job, Store
from runner.dashboard.catalog import DETAIL_ELSEWHERE
from runner.run.progress import read_progress
from runner.run.readback import read_run

REPO_ROOT = Path(__file__).resolve().parents[2]


@lru_cache(maxsize=1)
def version() -> dict[str, str | None]:
    """cc-ci's package version, and the commit of its checkout when it runs from one."""
    try:
        package = metadata.version("cc-ci")
    except metadata.PackageNotFoundError:
        package = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"version": package, "commit": commit}


def iso(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def health(store: Store, forge: ForgeClient, caught_up: bool, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    counts = store.job_counts()
    backlog = store.outbox_counts()
    failure = forge.last_failure
    return {
        "ok": True,
        **version(),
        "queued": sum(n for (state, _), n in counts.items() if state == "queued"),
        "running": sum(n for (state, _), n in counts.items() if state == "running"),
        "outbox": {
            "pending": backlog.get("pending", 0) + backlog.get("sending", 0),
            "failed": backlog.get("failed", 0),
        },
        "caught_up": caught_up,
        "last_forge_error": None
        if failure is None
        else {
            "message": failure.message,
            "at": iso(failure.at),
            "age_seconds": round(now - failure.at, 1),
        },
    }


def run_summary(job: Job) -> dict[str, Any]:
    """One run in the list: who asked for what, and where it stands."""
    return {
        "run_id": job.run_id,
        "url": f"/runs/{job.run_id}",
        "state": job.state,
        "verdict": job.verdict,
        "attempt": job.attempt,
        "repo": job.repo,
        "pr": job.pr,
        "head_sha": job.head_sha,
        "recipe": job.recipe,
        "stages": list(job.stages),
        "requested_by": job.requested_by,
        "received_at": iso(job.received_at),
        "queued_at": iso(job.queued_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
    }


def run_page(job: Job, run_dir: Path | None) -> dict[str, Any]:
    """Everything about one run. `run_dir` is where a local run writes (None for Drone)."""
    page = run_summary(job)
    run = read_run(run_dir) if run_dir is not None and run_dir.is_dir() else None
    page.update(
        base_run_id=job.base_run_id,
        follow_url=job.follow_url,
        summary=job.summary,
        detail=DETAIL_ELSEWHERE if job.detail else None,
        exit_code=run.results.exit_code if run and run.results else None,
        unreadable=run.unreadable if run else None,
        progress=read_progress(run_dir, job.stages).as_dict()
        if run_dir is not None and job.state == "running"
        else None,
    )
    return page


def runs_page(store: Store, page: int, per_page: int) -> dict[str, Any]:
    jobs, total = store.page_of_jobs((page - 1) * per_page, per_page)

    def link(number: int) -> str:
        return f"/runs?page={number}&per_page={per_page}"

    return {
        "runs": [run_summary(job) for job in jobs],
        "page": page,
        "per_page": per_page,
        "total": total,
        "next": link(page + 1) if page * per_page < total else None,
        "prev": link(page - 1) if page > 1 else None,
    }
