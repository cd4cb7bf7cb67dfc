"""`/badge/<recipe>.svg`: the level and verdict of the recipe's latest default-branch or catalogue run."""

from __future__ import annotations

from dataclasses import replace

import anybadge

from runner.dashboard.catalog import RunEntry

COLOURS = {"pass": "#4c1", "fail": "#e05d44", "error": "#b60205", "empty": "#a4a61d",
           "flaky": "#6a1b9a"}  # a catalogue result that failed, then passed on retry: never pass's colour
UNKNOWN_COLOUR = "#9f9f9f"
# Forge image proxies (camo, Gitea's) honour max-age; short, so a new verdict shows within minutes.
CACHE_HEADERS = {"Cache-Control": "public, max-age=300, s-maxage=300", "Vary": "Accept-Encoding"}


def badge_text(entry: RunEntry | None) -> tuple[str, str]:
    """(value, colour): `L4 pass`, or `unknown` for a recipe without a finished default-branch or catalogue run."""
    if entry is None or entry.verdict is None:
        return "unknown", UNKNOWN_COLOUR
    verdict = entry.verdict if entry.verdict in COLOURS else "error"
    level = f"L{entry.level} " if isinstance(entry.level, int) else ""
    return f"{level}{verdict}", COLOURS[verdict]


def badge_svg(entry: RunEntry | None) -> str:
    value, colour = badge_text(entry)
    return str(anybadge.Badge(label="cc-ci", value=value, default_color=colour).badge_svg_text)


def badge_entry(entries: list[RunEntry], recipe: str) -> RunEntry | None:
    """The newest finished default-branch or catalogue run of `recipe` (entries newest first); a run whose
    dir is unreadable is not one it can vouch for."""
    return next((e for e in entries if e.recipe == recipe and e.badged
                 and e.state == "finished" and not e.unreadable), None)


def newer(ran: RunEntry | None, listed: RunEntry | None) -> RunEntry | None:
    """The badge's run: `ran` (from the run dirs) or `listed` (the catalogue's latest result, from
    its history), whichever ended last; the history's for the same run, which it judged (a pass on
    retry is `flaky` there)."""
    if listed is None or (ran is not None and ran.run_id != listed.run_id
                          and (ran.finished_at or 0.0) > (listed.finished_at or 0.0)):
        return ran
    return replace(listed, run_dir=ran.run_dir) if ran is not None and ran.run_id == listed.run_id else listed
