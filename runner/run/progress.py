"""Where a running run is, read from its run log (`<run dir>/logs/run.log`, one line per step).

The orchestrator writes `<op> tier: <verdict>` when a tier ends and `<op>: skip — …` when it
skips one; the tier in progress is the first requested stage with neither line yet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from runner.run.readback import read_text
from runner.run.rundir import RunDir, RunFileUnreadable

_TIME = r"^\s*\d+(?:\.\d+)?s\s+"
_ENDED = re.compile(_TIME + r"(?P<op>[a-z]+) tier: (?P<verdict>pass|fail|error|empty)\b")
_SKIPPED = re.compile(_TIME + r"(?P<op>[a-z]+): skip\b")
_TEARDOWN = re.compile(_TIME + r"tearing down ")


@dataclass(frozen=True)
class Progress:
    tier: str | None  # the tier in progress; None before the run log exists and once tearing down
    tiers: dict[str, str]  # tiers that ended so far -> verdict ("skip" for a skipped one)
    phase: str  # "starting", "tier", "teardown"
    last_line: str  # the newest run log line, without its timestamp

    def as_dict(self) -> dict[str, object]:
        return {
            "phase": self.phase,
            "tier": self.tier,
            "tiers": dict(self.tiers),
            "last_line": self.last_line,
        }


def progress_from_log(text: str, stages: tuple[str, ...]) -> Progress:
    ended: dict[str, str] = {}
    tearing_down = False
    lines = [line for line in text.splitlines() if line.strip()]
    for line in lines:
        if match := _ENDED.match(line):
            ended[match["op"]] = match["verdict"]
        elif match := _SKIPPED.match(line):
            ended[match["op"]] = "skip"
        elif _TEARDOWN.match(line):
            tearing_down = True
    last = re.sub(_TIME, "", lines[-1]) if lines else ""
    if not lines:
        return Progress(None, ended, "starting", last)
    if tearing_down:
        return Progress(None, ended, "teardown", last)
    current = next((stage for stage in stages if stage not in ended), None)
    return Progress(current, ended, "tier" if current else "teardown", last)


def read_progress(run_dir: Path, stages: tuple[str, ...]) -> Progress:
    try:
        text = read_text(run_dir, RunDir.RUN_LOG) or ""
    except RunFileUnreadable:  # a damaged log: no progress to show, the rest of the page stands
        text = ""
    return progress_from_log(text, stages)
