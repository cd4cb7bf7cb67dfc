"""The `!testme` trigger grammar: a pure parser from a comment body to a decision.

    !testme [stages=<stage>[,<stage>...]] [sha=<commit prefix>]

Only the comment's first line counts; the rest is free text for humans. The first word must be
exactly `!testme` (so `!testmexyz` is ordinary text). Every further word must be a known
`key=value` option; anything else is malformed and earns one short reply with GRAMMAR_HELP.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from runner.ops import LIFECYCLE

TRIGGER_WORD = "!testme"

# Every op of the lifecycle, in its order.
STAGES: tuple[str, ...] = LIFECYCLE.names
# What a bare `!testme` runs unless the operator says otherwise: what a hand run runs (STAGES unset).
DEFAULT_STAGES: tuple[str, ...] = LIFECYCLE.default_stages

SHA_PREFIX_RE = re.compile(r"^[0-9a-f]{7,40}$")

GRAMMAR_HELP = (
    "usage: `!testme` on the first line of a comment, optionally followed by "
    f"`stages=<list>` (a comma-separated subset of {','.join(STAGES)}, no spaces) and "
    "`sha=<commit>` (the PR's head commit, 7 to 40 hex digits), e.g. `!testme stages=install,upgrade`."
)


@dataclass(frozen=True)
class NotATrigger:
    """Ordinary text: the bridge ignores it silently."""


@dataclass(frozen=True)
class Trigger:
    stages: tuple[str, ...]
    sha: str | None = None  # `sha=`: the commit the member pins (lower-case hex prefix)


@dataclass(frozen=True)
class Malformed:
    """Addressed to the bridge but unparseable; `reason` is one line for the reply."""

    reason: str


ParseResult = NotATrigger | Trigger | Malformed


def first_line(body: str) -> str:
    return body.lstrip("\ufeff").split("\n", 1)[0].strip()


def looks_like_trigger(body: str) -> bool:
    """Cheap pre-filter used before anything is stored: is the first word exactly `!testme`?"""
    words = first_line(body).split()
    return bool(words) and words[0] == TRIGGER_WORD


def parse_trigger(
    body: str,
    default_stages: tuple[str, ...] = DEFAULT_STAGES,
    available: tuple[str, ...] = STAGES,
) -> ParseResult:
    """`available` is what the harness can run today; a known stage outside it is refused here,
    with a reply, rather than queued for a run that would only refuse it."""
    words = first_line(body).split()
    if not words or words[0] != TRIGGER_WORD:
        return NotATrigger()
    stages: tuple[str, ...] | None = None
    sha: str | None = None
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep:
            return Malformed(f"`{clip(word)}` is not an option (options look like key=value)")
        if key == "stages":
            if stages is not None:
                return Malformed("`stages` given twice")
            parsed = parse_stages(value, available)
            if isinstance(parsed, Malformed):
                return parsed
            stages = parsed
        elif key == "sha":
            if sha is not None:
                return Malformed("`sha` given twice")
            if not SHA_PREFIX_RE.match(value.lower()):
                return Malformed(f"`sha={clip(value)}` is not a commit (7 to 40 hex digits)")
            sha = value.lower()
        else:
            return Malformed(f"unknown option `{clip(key)}`")
    return Trigger(stages if stages is not None else canonical_stages(default_stages), sha)


def parse_stages(value: str, available: tuple[str, ...] = STAGES) -> tuple[str, ...] | Malformed:
    names = value.split(",")
    if not value or any(not name for name in names):
        return Malformed("`stages` needs a comma-separated list without empty entries")
    unknown = [name for name in names if name not in STAGES]
    if unknown:
        return Malformed(f"unknown stage `{clip(unknown[0])}`")
    offered = f"available: {','.join(stage for stage in STAGES if stage in available)}"
    missing = [name for name in names if name not in available]
    if missing:
        return Malformed(f"stage `{missing[0]}` is not available on this cc-ci ({offered})")
    for name in names:
        needed = [stage for stage in canonical_stages([name]) if stage not in available]
        if needed:
            return Malformed(
                f"stage `{name}` needs `{needed[0]}`, which is not available on this cc-ci ({offered})"
            )
    return canonical_stages(names)


def canonical_stages(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """What a stage list runs, spelt one way: the harness's own reading of STAGES (what the
    stages need comes too, lifecycle order, once each), so that one stage set is one status
    context and one queue key however it was asked for. `names` are known stages."""
    return LIFECYCLE.stages(names)


def printable(text: str) -> str:
    """`text` without control and format characters (NUL, ESC, CR, bidi overrides, line
    separators): what a commenter wrote must not forge log lines or hide text in a reply."""
    return "".join(ch for ch in text if unicodedata.category(ch) not in _UNPRINTABLE)


_UNPRINTABLE = frozenset({"Cc", "Cf", "Zl", "Zp"})


def clip(text: str, limit: int = 40) -> str:
    # The reply quotes user input back; keep it short and free of backticks that would break markup.
    text = printable(text).replace("`", "'")
    return text if len(text) <= limit else text[:limit] + "…"
