"""One run dir read for people: its results, failed assertions, op timeline, progress and the
files a page may link. Pure readers; a missing or half-written file reads as absent.

Only the files in `linkable_files` are ever served: the app env, op state, restic repository and
password, recipe clone and tier tests folder stay on the machine.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from runner.bridge.progress import Progress, read_progress
from runner.harness.runlock import run_is_alive

SCREENSHOTS = "screenshots"  # <run dir>/screenshots/<name>.png: the app after install, after upgrade
BROWSER_FAILURES = "browser"  # <run dir>/browser/<test>.png and .zip: a failing browser test
CARD = "card.png"
MANIFEST = "backup-manifest.json"  # derived from op_state.json on request, never stored

# what a page may link, relative to the run dir: a name or a one-level glob
_LINKABLE = ("logs/run.log", "logs/tier-*.log", "logs/traceback.log", "junit-*.xml", "results.json",
             "summary.md", CARD, f"{SCREENSHOTS}/*.png", f"{SCREENSHOTS}/*.json",
             f"{BROWSER_FAILURES}/*.png", f"{BROWSER_FAILURES}/*.zip")
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


@dataclass
class RunView:
    path: Path
    results: dict[str, Any] | None
    alive: bool
    progress: Progress
    failures: list[Failure] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.results is not None and not self.alive


def read_run_view(path: Path, stages: tuple[str, ...] | None = None) -> RunView:
    results = read_json(path / "results.json")
    alive = run_is_alive(path)
    wanted = stages or tuple((results or {}).get("stages") or ()) or _stages_from_app(path)
    return RunView(path, results if isinstance(results, dict) else None, alive,
                  read_progress(path, wanted), failures(path))


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _stages_from_app(path: Path) -> tuple[str, ...]:
    state = read_json(path / "op_state.json")
    return tuple(state.get("stages") or ()) if isinstance(state, dict) else ()


def recipe_of(path: Path) -> str | None:
    """The recipe of a run dir, finished (results.json) or still running (app.json, op state)."""
    for name in ("results.json", "app.json", "op_state.json"):
        data = read_json(path / name)
        if isinstance(data, dict) and isinstance(data.get("recipe"), str):
            return str(data["recipe"])
    try:  # a run that just started: its first log line, `cloning <recipe> from <source>`
        first = (path / "logs" / "run.log").read_text(errors="replace").split("\n", 1)[0]
    except OSError:
        return None
    found = _CLONING.match(first)
    return found["recipe"] if found else None


_CLONING = re.compile(r"^\s*\d+(?:\.\d+)?s cloning (?P<recipe>\S+) from ")


def failures(path: Path) -> list[Failure]:
    found: list[Failure] = []
    for junit in sorted(path.glob("junit-*.xml")):
        try:
            found += failures_from_junit(junit.stem.removeprefix("junit-"), junit.read_text())
        except (OSError, ElementTree.ParseError):
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


def timeline(results: dict[str, Any]) -> list[TimelineRow]:
    """When each op ran and how long it waited on docker (`op_timeline`); runs made before it was
    recorded show each op's duration only."""
    rows = results.get("op_timeline") or {}
    durations = results.get("op_durations") or {}
    order = [tier.get("op") for tier in results.get("tiers") or [] if isinstance(tier, dict)]
    ops = sorted(set(rows) | set(durations), key=lambda op: order.index(op) if op in order else len(order))
    return [TimelineRow(op, _num(rows.get(op, {}).get("started_s")),
                        _num(rows.get(op, {}).get("duration_s")) or _num(durations.get(op)) or 0.0,
                        _num(rows.get(op, {}).get("docker_wait_s"))) for op in ops]


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def linkable_files(path: Path) -> list[str]:
    """The run dir's files a page links, relative to it, in a stable order."""
    found: list[str] = []
    for pattern in _LINKABLE:
        found += sorted(str(p.relative_to(path)) for p in path.glob(pattern)
                        if p.is_file() and not p.is_symlink())
    if backup_manifest(path) is not None:
        found.append(MANIFEST)
    return found


def linkable_file(path: Path, name: str) -> Path | None:
    """`name` resolved in the run dir when a page may serve it, else None: a fixed list of files,
    plain names only (no `..`, no symlink), so no request reaches the app env or the restic password."""
    parts = name.split("/")
    if not 1 <= len(parts) <= 2 or not all(_SAFE_NAME.match(part) for part in parts):
        return None
    if name not in linkable_files(path) or name == MANIFEST:
        return None
    return path / name


def backup_manifest(path: Path) -> dict[str, Any] | None:
    """What the backup took: snapshot id, volumes and every file with size and sha256."""
    state = read_json(path / "op_state.json")
    try:
        snapshot = state["ops"]["backup"]["snapshot"]
    except (KeyError, TypeError):
        return None
    if not isinstance(snapshot, dict):
        return None
    return {key: snapshot.get(key) for key in ("id", "volumes", "stack_volumes", "files", "excluded", "missing")}


def screenshots(path: Path) -> list[dict[str, Any]]:
    """The app's screenshots (`screenshots/<when>.png`) and the pages that never loaded, with why
    (`screenshots/<when>.json`)."""
    shots = []
    for record in sorted((path / SCREENSHOTS).glob("*.json")):
        data = read_json(record)
        if isinstance(data, dict):
            png = record.with_suffix(".png")
            shots.append({"when": record.stem, "url": data.get("url"), "error": data.get("error"),
                          "png": f"{SCREENSHOTS}/{png.name}" if png.is_file() else None})
    return shots
