"""Which runs there are: one entry per run, from the bridge's job queue (with its run dirs when
the runs are local; the bridge's own `BridgeCatalog`) or from a runs dir alone (`cc-ci serve`).
Pages only ever read a Catalog: the dashboard declares here what it needs of a source of runs and
never imports the bridge that hosts it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from runner.ops import ORDER
from runner.recipe.naming import RUN_ID
from runner.run import runindex
from runner.run.readback import RunRead, read_run

PRUNE_AFTER = 100  # rows of removed run dirs the index may hold before a reader drops them
DEFAULT_PER_PAGE = 20  # the bridge's JSON `/runs`; the dashboard's page shows more
MAX_PER_PAGE = 100
MAX_PAGE = 100_000  # far past any history; bounds the offset the store is asked for
# What an unauthenticated page says of a job the bridge could not start or handle: the reason
# names host paths and users, so it goes to the bridge's log only.
DETAIL_ELSEWHERE = "The bridge could not start or handle this run; its operator finds why in the bridge's log."


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
    catalogue: str | None = None  # a `cc-ci catalogue run`'s own run (results.json says so)

    @property
    def default_branch(self) -> bool:
        """Not a PR's head: a run of the recipe's default branch (by hand, or scheduled)."""
        return self.pr is None and self.ref is None

    @property
    def badged(self) -> bool:
        """A run the recipe's badge may show: of its default branch, or one of the catalogue's
        (which tests the recipe's catalogue ref at a commit, so its ref is set)."""
        return self.default_branch or (self.pr is None and self.catalogue is not None)

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
    return entry_from_read(read_run(path))


def entry_from_read(run: RunRead) -> RunEntry | None:
    """The run of a run dir as read; None when nothing in it says which recipe it ran."""
    path = run.path
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
        catalogue=results.catalogue if results else None,
    )


def entry_from_row(row: runindex.IndexedRun, path: Path) -> RunEntry:
    """A finished run as the runs dir's index holds it (no `read`: a run's own page reads its dir)."""
    return RunEntry(
        run_id=row.run_id, recipe=row.recipe, state="finished", verdict=row.verdict, level=row.level,
        started_at=row.started_at, finished_at=row.finished_at, duration_s=row.duration_s, pr=row.pr,
        ref=row.ref, run_dir=path, stages=row.stage_names or ORDER, catalogue=row.catalogue,
    )


def is_run_dir(path: Path) -> bool:
    """A run id's own directory: not a symlink to one elsewhere."""
    return RUN_ID.match(path.name) is not None and path.is_dir() and not path.is_symlink()


def run_dir_names(runs_dir: Path) -> list[str]:
    """The run ids with a run dir under `runs_dir` (a directory, not a symlink), from one listing."""
    try:
        with os.scandir(runs_dir) as found:
            return [item.name for item in found
                    if RUN_ID.match(item.name) is not None and item.is_dir(follow_symlinks=False)]
    except OSError:
        return []


class RunsDirCatalog:
    """`cc-ci serve`: every run dir under one folder, through the runs dir's index
    (runner/run/runindex.py): a run dir whose row stands is not opened; any other is read from
    its dir, and put into the index when it has finished and this process may write there."""

    def __init__(self, runs_dir: Path, enrolled: list[str] | None = None) -> None:
        self.runs_dir = runs_dir
        self._enrolled = enrolled or []
        self._index = runindex.IndexReader(runs_dir)
        # run id -> (row, its entry): the last request's, reused while the row is the same
        self._from_rows: dict[str, tuple[runindex.IndexedRun, RunEntry]] = {}

    def entries(self) -> list[RunEntry]:
        return newest_first(list(self.by_run_id().values()))

    def by_run_id(self) -> dict[str, RunEntry]:
        """run id -> its entry, for every run dir (a dir that is not a run yet has none)."""
        names = run_dir_names(self.runs_dir)
        rows = self._index.rows(names)
        try:
            runs_fd = os.open(self.runs_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return {}
        try:
            return self._entries(names, rows, runs_fd)
        finally:
            os.close(runs_fd)

    def _entries(self, names: list[str], rows: dict[str, runindex.IndexedRun], runs_fd: int) -> dict[str, RunEntry]:
        found: dict[str, RunEntry] = {}
        caught_up: list[runindex.IndexedRun] = []
        from_rows, kept = self._from_rows, {}
        for name in names:
            row = rows.get(name)
            if row is not None and runindex.current(row, name, runs_fd):  # one lstat, relative: cheap
                known = from_rows.get(name)
                # the reader hands out the same row objects until the index changes
                listed = known[1] if known is not None and known[0] is row else entry_from_row(row, self.runs_dir / name)
                found[name], kept[name] = listed, (row, listed)
                continue
            path = self.runs_dir / name
            entry = entry_from_run_dir(path)
            if entry is None:
                continue
            found[name] = entry
            if entry.state == "finished" and entry.unreadable is None and (fresh := runindex.read_row(path)):
                caught_up.append(fresh)
        self._from_rows = kept  # requests run in threads: each builds its own and the last one stays
        # rows of run dirs since removed (`cc-ci gc --prune-days`) go when there are many
        removed = self._index.count - len(rows) > PRUNE_AFTER
        if (caught_up or removed) and runindex.writable(self.runs_dir):
            runindex.write_rows(self.runs_dir, caught_up, keep=names if removed else None)
        return found

    def entry(self, run_id: str) -> RunEntry | None:
        if not is_run_dir(self.runs_dir / run_id):
            return None
        return entry_from_run_dir(self.runs_dir / run_id)

    def enrolled(self) -> list[str]:
        return list(self._enrolled)


def newest_first(entries: list[RunEntry]) -> list[RunEntry]:
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


def page_params(query: dict[str, str], default_per_page: int = DEFAULT_PER_PAGE) -> tuple[int, int] | str:
    """(page, per_page) from `?page=&per_page=`, or one line saying what is wrong (the dashboard's
    `/runs` page and the bridge's JSON `/runs` alike)."""
    page_text, per_page_text = query.get("page", "1"), query.get("per_page", str(default_per_page))
    if not (page_text.isascii() and page_text.isdigit() and per_page_text.isascii() and per_page_text.isdigit()):
        return "page and per_page must be whole numbers"
    if len(page_text) > 7 or len(per_page_text) > 4:  # before int(): no huge number is ever parsed
        return f"page must be from 1 to {MAX_PAGE}, per_page from 1 to {MAX_PER_PAGE}"
    page, per_page = int(page_text), int(per_page_text)
    if not 1 <= page <= MAX_PAGE or not 1 <= per_page <= MAX_PER_PAGE:
        return f"page must be from 1 to {MAX_PAGE}, per_page from 1 to {MAX_PER_PAGE}"
    return page, per_page
