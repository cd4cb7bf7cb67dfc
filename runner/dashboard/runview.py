"""One run dir read for people: its results, failed assertions, op timeline, progress and the
files a page may link, all read through `runner.run.readback` (read-only, never through a
symlink, never a FIFO); a missing file reads as absent, a damaged one as absent or unreadable.

Only the files in `linkable_files` are ever served: the app env, op state, restic repository and
password, recipe clone and tier tests folder stay on the machine.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from runner.run.progress import Progress, read_progress
from runner.run.readback import (
    Results,
    RunRead,
    Screenshot,
    listing,
    read_model,
    read_op_state,
    read_text,
)
from runner.run.rundir import RunDir, RunFileUnreadable

MANIFEST = "backup-manifest.json"  # derived from op_state.json on request, never stored

# what a page may link, relative to the run dir: a name or a one-level glob
_CAUSE_LOGS = (RunDir.convergence_log_name("*"), RunDir.deploy_log_name("*"), RunDir.log_name("traceback"))
_LINKABLE = (RunDir.RUN_LOG, RunDir.tier_log_name("*"), *_CAUSE_LOGS, RunDir.junit_name("*"),
             RunDir.RESULTS, RunDir.SUMMARY, RunDir.CARD_PNG,
             RunDir.screenshot_name("*", "png"), RunDir.screenshot_name("*", "json"),
             RunDir.browser_failure_name("*", "png"), RunDir.browser_failure_name("*", "zip"))
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


@dataclass(frozen=True)
class Failure:
    op: str
    test: str  # the test's node id as pytest names it
    kind: str  # failure | error
    message: str
    detail: str


@dataclass(frozen=True)
class TimelineRow:
    op: str
    started_s: float | None  # seconds after the run started
    duration_s: float
    docker_wait_s: float | None
    failed: bool = False  # the op whose performing failed: the run's first cause


@dataclass
class RunView:
    path: Path
    results: Results | None
    alive: bool
    progress: Progress
    failures: list[Failure] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.results is not None and not self.alive


def read_run_view(run: RunRead, stages: tuple[str, ...] | None = None) -> RunView:
    wanted = stages or run.stages
    order = [tier.op for tier in run.results.tiers] if run.results else list(wanted)
    return RunView(run.path, run.results, run.alive, read_progress(run.path, wanted), failures(run.path, order))


def failures(path: Path, order: list[str] | None = None) -> list[Failure]:
    """Every failed assertion of the run, tier by tier in lifecycle order (`order`: the ops as the
    run's tiers list them), so that the first cause comes first; tiers it does not name go last."""
    found: list[Failure] = []
    ops = [RunDir.junit_op(name) for name in listing(path, RunDir.junit_name("*"))]
    rank = {op: i for i, op in enumerate(order or [])}
    for op in sorted(ops, key=lambda op: (rank.get(op, len(rank)), op)):
        try:
            found += failures_from_junit(op, read_text(path, RunDir.junit_name(op)) or "")
        except (RunFileUnreadable, ElementTree.ParseError):
            continue
    return found

def failures_from_junit(op: str, xml: str) -> list[Failure]:
    """Every failed or erroring test case of one tier, with pytest's message and its report."""
    found = []
    for case in ElementTree.fromstring(xml).iter("testcase"):
        for kind in ("failure", "error"):
            for node in case.findall(kind):
                test = "::".join(part for part in (case.get("classname"), case.get("name")) if part)
                found.append(Failure(op, test, kind, node.get("message") or "", (node.text or "").strip()))
    return found


def timeline(results: Results) -> list[TimelineRow]:
    """When each op ran and how long it waited on docker (`op_timeline`); runs made before it was
    recorded show each op's duration only."""
    rows, durations = results.op_timeline, results.op_durations
    order = [tier.op for tier in results.tiers]
    ops = sorted(set(rows) | set(durations), key=lambda op: order.index(op) if op in order else len(order))
    return [TimelineRow(op, row.started_s if (row := rows.get(op)) else None,
                        (row.duration_s if row else None) or durations.get(op) or 0.0,
                        row.docker_wait_s if row else None, op == results.error_op) for op in ops]


def cause_logs(files: list[str]) -> list[str]:
    """The linkable logs that say why an op failed: convergence (a service's tasks' errors), what
    each deploy said, the harness's traceback."""
    return [name for pattern in _CAUSE_LOGS for name in files if fnmatch.fnmatch(name, pattern)]


def linkable_files(path: Path) -> list[str]:
    """The run dir's files a page links, relative to it, in a stable order: regular files whose
    every path component is a real directory (a symlinked folder lists nothing)."""
    found = [name for pattern in _LINKABLE for name in listing(path, pattern)]
    if backup_manifest(path) is not None:
        found.append(MANIFEST)
    return found


def linkable_file(path: Path, name: str) -> str | None:
    """`name` when a page may serve it, else None: a fixed list of files, plain names only (no
    `..`), so no request reaches the app env or the restic password. The file route then opens
    it component by component without following a symlink (`readback.open_file`)."""
    parts = name.split("/")
    if not 1 <= len(parts) <= 2 or not all(_SAFE_NAME.match(part) for part in parts):
        return None
    if name == MANIFEST or name not in linkable_files(path):
        return None
    return name


def backup_manifest(path: Path) -> dict[str, Any] | None:
    """What the backup took: snapshot id, volumes and every file with size and sha256."""
    try:
        state = read_op_state(path)
    except RunFileUnreadable:
        return None
    snapshot = state.backup_snapshot() if state is not None else None
    if snapshot is None:
        return None
    return {key: snapshot.get(key) for key in ("id", "volumes", "stack_volumes", "files", "excluded", "missing")}


def screenshots(path: Path) -> list[dict[str, Any]]:
    """The app's screenshots (`screenshots/<when>.png`) and the pages that never loaded, with why
    (`screenshots/<when>.json`)."""
    shots = []
    pngs = set(listing(path, RunDir.screenshot_name("*", "png")))
    for record in listing(path, RunDir.screenshot_name("*", "json")):
        try:
            shot = read_model(path, record, Screenshot)
        except RunFileUnreadable:
            continue
        if shot is not None:
            when = record.removeprefix(f"{RunDir.SCREENSHOTS}/").removesuffix(".json")
            png = RunDir.screenshot_name(when, "png")
            shots.append({"when": when, "url": shot.url, "error": shot.error, "png": png if png in pngs else None})
    return shots
