"""`/badge/<recipe>.svg`: the level and verdict of the recipe's latest default-branch or catalogue run."""

from __future__ import annotations

import anybadge

from runner.dashboard.catalog import RunEntry

COLOURS = {"pass": "#4c1", "fail": "#e05d44", "error": "#b60205", "empty": "#a4a61d"}
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
