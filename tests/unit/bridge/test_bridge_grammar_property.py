"""The `!testme` grammar under fuzzing: whatever a commenter writes, `parse_trigger` answers with
one of its three documented results (ordinary text, a trigger, a one-line refusal) and never
raises; a trigger names only known stages, spelt one way, and a commit prefix; a refusal is one
short printable line that the reply can quote."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from runner.bridge.grammar import (
    SHA_PREFIX_RE,
    STAGES,
    Malformed,
    NotATrigger,
    Trigger,
    looks_like_trigger,
    parse_trigger,
)
from runner.bridge.refusals import malformed_body
from runner.ops import LIFECYCLE

# Pieces a hostile or careless comment is made of: the trigger and its options, stage names
# (known, near-misses), hex, separators of every kind the first line may be split on, and the
# characters a reply must never carry (control, format, bidi, line separators, backticks).
_PIECES = [
    "!testme", "!TESTME", "!testmexyz", "stages=", "sha=", "stages", "=", ",", ",,", " ", "  ",
    "\t", "\n", "\r", "\r\n", "\u2028", "\u2029", "\x85", "\x1c", "\x00", "\x1b", "\u202e",
    "\u200b", "\ufeff", "`", "``", "abcdef1", "ABCDEF0123", "0" * 40, "f" * 41, "main", "deploy",
    "install,", "é", "\U0001f600", "x" * 300, *STAGES,
]
_LONG_WORDS = st.text(st.characters(exclude_categories=("Zs", "Cc")), min_size=130, max_size=400)
_JUMBLE = st.lists(st.sampled_from(_PIECES) | st.text(max_size=5), max_size=25).map("".join)
# Mostly comments addressed to the bridge (the trigger, then anything): that is where the parser
# does its work; free text and jumbles check that ordinary text stays ordinary.
_BODIES = st.one_of(
    _JUMBLE.map(lambda rest: f"!testme {rest}"),
    _JUMBLE.map(lambda rest: f"!testme{rest}"),
    _LONG_WORDS.map(lambda word: f"!testme {word}"),  # quoted back in the reply: clipped
    _JUMBLE,
    st.text(max_size=200),
)
_STAGE_SETS = st.lists(st.sampled_from(STAGES), min_size=1, max_size=len(STAGES), unique=True)
_UNPRINTABLE = {"Cc", "Cf", "Zl", "Zp"}


@given(body=_BODIES, defaults=_STAGE_SETS, available=_STAGE_SETS)
def test_any_comment_gets_one_of_the_three_documented_answers(
    body: str, defaults: list[str], available: list[str]
) -> None:
    result = parse_trigger(body, default_stages=tuple(defaults), available=tuple(available))

    assert isinstance(result, NotATrigger | Trigger | Malformed)
    assert isinstance(result, NotATrigger) == (not looks_like_trigger(body))
    if isinstance(result, Trigger):
        assert result.stages == LIFECYCLE.stages(list(result.stages))  # one spelling per set
        assert set(result.stages) <= set(STAGES)
        assert result.sha is None or SHA_PREFIX_RE.match(result.sha)
    if isinstance(result, Malformed):
        reason = result.reason
        assert reason and len(reason) <= 160, reason
        assert not any(unicodedata.category(ch) in _UNPRINTABLE for ch in reason), repr(reason)
        assert malformed_body(reason).splitlines()[0] == f"cc-ci: {reason}. No run started."


@given(first=_BODIES, rest=_BODIES)
def test_only_the_first_line_counts(first: str, rest: str) -> None:
    line = first.split("\n", 1)[0]
    assert parse_trigger(f"{line}\n{rest}") == parse_trigger(line)


@given(stages=_STAGE_SETS, sha=st.text("0123456789abcdefABCDEF", min_size=7, max_size=40))
def test_every_well_formed_request_is_a_trigger_for_what_it_names(
    stages: list[str], sha: str
) -> None:
    result = parse_trigger(f"!testme stages={','.join(stages)} sha={sha}")
    assert result == Trigger(LIFECYCLE.stages(stages), sha.lower())
