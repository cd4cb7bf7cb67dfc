"""The matrix: one row per recipe of a catalogue run, and the word that says how it changed
against the recipe's previous catalogue result. Pure: fed the rows, the previous results, a clock.

Change words:
  `new`             no previous catalogue result for the recipe
  `=`               the same level as last time
  `improved Lx→Ly`  a higher level than last time
  `regressed Lx→Ly` a lower level than last time (the catalogue run exits 1)
  `flaky`           failed, then passed on a retry from scratch: never shown as a pass
  `stale`           the latest result is older than the catalogue's age limit (status, or a recipe
                    whose run could not be made this time)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from runner.errors import EXIT_ASSERTION_FAILED, EXIT_INFRA, EXIT_PASS

FLAKY_WINDOW = 10  # a recipe is listed as flaky when flaky on FLAKY_LIMIT of its last FLAKY_WINDOW
FLAKY_LIMIT = 3
NOT_RUN = "not run"  # the verdict of a row whose run could not be made (infrastructure)


@dataclass(frozen=True)
class Row:
    """A recipe's result in one catalogue run. `level` None: no run could be made for it."""

    recipe: str
    commit: str | None
    level: int | None
    verdict: str  # pass | fail | error | empty | flaky | not run
    change: str = ""
    run_id: str | None = None
    run_dir: str | None = None
    target: str | None = None
    moved_from: str | None = None  # the target that went down before this recipe ran here
    retry_run_id: str | None = None  # the retry from scratch after a failure: both runs kept
    retry_run_dir: str | None = None
    retry_verdict: str | None = None
    error: str | None = None
    first_bad: str | None = None  # a regression's first bad commit (sha), found by the bisect
    first_bad_subject: str | None = None
    bisect_why: str | None = None  # what the bisect found (its runs), or why it made none
    finished: float = 0.0  # when its (last) run ended, epoch seconds
    made: bool = True  # False: no run could be made this time; the row shows the previous result, if any

    @property
    def regressed(self) -> bool:
        return self.change.startswith("regressed")


def change_word(row: Row, previous: Row | None) -> str:
    """How `row` changed against the recipe's previous catalogue result (both as recorded)."""
    if not row.made:
        return ""  # no new result: nothing changed, and `as_of` says when the old one went stale
    if row.verdict == "flaky":
        return "flaky"
    if previous is None or previous.level is None:
        return "new"
    assert row.level is not None
    if row.level > previous.level:
        return f"improved L{previous.level}→L{row.level}"
    if row.level < previous.level:
        return f"regressed L{previous.level}→L{row.level}"
    return "="


def carry(row: Row, previous: Row | None) -> Row:
    """A recipe whose run could not be made keeps its previous result in the matrix (its commit,
    level, verdict, runs and time), with why no new one could be made."""
    if row.made or previous is None or previous.level is None:
        return row
    return replace(row, commit=previous.commit, level=previous.level, verdict=previous.verdict,
                   run_id=previous.run_id, run_dir=previous.run_dir, target=previous.target,
                   finished=previous.finished)


def as_of(rows: Iterable[Row], now: float, stale_after_s: float) -> list[Row]:
    """The rows as they read at `now`: a result older than the age limit is `stale`."""
    return [replace(row, change="stale") if row.level is not None and now - row.finished > stale_after_s else row
            for row in rows]


def flaky_recipes(recent: Mapping[str, Sequence[str]]) -> list[str]:
    """Recipes flaky on FLAKY_LIMIT or more of their last FLAKY_WINDOW catalogue results;
    `recent`: recipe -> its verdicts, newest first."""
    return sorted(name for name, verdicts in recent.items()
                  if sum(v == "flaky" for v in verdicts[:FLAKY_WINDOW]) >= FLAKY_LIMIT)


def exit_code(rows: Sequence[Row]) -> int:
    """1 when something regressed (a finding beats a gap), else 3 when a run could not be made, else 0."""
    if any(row.regressed for row in rows):
        return EXIT_ASSERTION_FAILED
    if any(not row.made for row in rows):
        return EXIT_INFRA
    return EXIT_PASS


def render(rows: Sequence[Row], flaky: Sequence[str] = (), events: Sequence[str] = ()) -> str:
    """The matrix as text: recipe, commit, level, verdict, change; then notes (moves, retries,
    first bad commits, errors) and the recipes listed as flaky."""
    header = ("recipe", "commit", "level", "verdict", "change", "target")
    table = [header] + [(r.recipe, (r.commit or "-")[:12], "-" if r.level is None else f"L{r.level}",
                         r.verdict, r.change or "-", r.target or "-") for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in table]
    notes = [*events, *(note for row in rows for note in _notes(row))]
    if flaky:
        notes.append(f"flaky on {FLAKY_LIMIT}+ of their last {FLAKY_WINDOW} catalogue runs: {', '.join(flaky)}")
    return "\n".join(lines + ([""] + notes if notes else []))


def _notes(row: Row) -> list[str]:
    notes = []
    if row.moved_from:
        notes.append(f"{row.recipe}: target {row.moved_from} went down; ran on {row.target} instead")
    if row.retry_run_id:
        notes.append(f"{row.recipe}: run {row.run_id} {'failed' if row.verdict == 'flaky' else row.verdict}, "
                     f"retried from scratch as {row.retry_run_id}: {row.retry_verdict}")
    if row.first_bad:
        subject = f" {row.first_bad_subject}" if row.first_bad_subject else ""
        notes.append(f"{row.recipe}: first bad commit {row.first_bad}{subject}")
    if row.bisect_why:
        notes.append(f"{row.recipe}: {row.bisect_why}")
    if not row.made:
        shown = f"; showing its previous result (run {row.run_id})" if row.run_id else ""
        notes.append(f"{row.recipe}: no run could be made: {row.error}{shown}")
    elif row.error:
        notes.append(f"{row.recipe}: {row.error}")
    return notes
