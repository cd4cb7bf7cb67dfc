"""The matrix's change words, stale, flaky and the exit code: pure, from rows."""

from __future__ import annotations

import pytest

from runner.catalogue.matrix import (
    NOT_RUN,
    Row,
    as_of,
    carry,
    change_word,
    exit_code,
    flaky_recipes,
    render,
)

DAY = 86400.0


def row(level: int | None, verdict: str = "pass", **more: object) -> Row:
    return Row(recipe="r", commit="c" * 40, level=level, verdict=verdict, **more)  # type: ignore[arg-type]


@pytest.mark.parametrize(("previous", "current", "word"), [
    (None, row(1), "new"),
    (row(1), row(1), "="),
    (row(1), row(2), "improved L1→L2"),
    (row(3), row(0, "error"), "regressed L3→L0"),
    (row(2), row(1, "fail"), "regressed L2→L1"),
    (row(1), row(1, "flaky"), "flaky"),  # flaky is never `=`, however the level compares
    (None, row(2, "flaky"), "flaky"),
    (row(1), row(None, NOT_RUN, made=False), ""),
])
def test_change_word_against_the_previous_result(previous: Row | None, current: Row, word: str) -> None:
    assert change_word(current, previous) == word


def test_a_recipe_not_run_keeps_its_previous_result_and_why() -> None:
    previous = row(2, run_id="old-run", finished=5.0)
    kept = carry(row(None, NOT_RUN, made=False, error="no target left up"), previous)
    assert (kept.level, kept.verdict, kept.run_id, kept.finished, kept.made) == (2, "pass", "old-run", 5.0, False)
    assert "no run could be made: no target left up; showing its previous result (run old-run)" in render([kept])
    assert carry(row(None, NOT_RUN, made=False), None).level is None


def test_a_result_older_than_the_age_limit_is_stale() -> None:
    now = 100 * DAY
    fresh, old = row(1, finished=now - 6 * DAY, change="="), row(1, finished=now - 8 * DAY, change="=")
    assert [r.change for r in as_of([fresh, old], now, 7 * DAY)] == ["=", "stale"]
    assert [r.change for r in as_of([fresh, old], now, 9 * DAY)] == ["=", "="]
    assert as_of([row(None, NOT_RUN, made=False)], now, DAY)[0].change == ""  # nothing to go stale


def test_flaky_on_three_of_the_last_ten_is_listed() -> None:
    recent = {
        "three": ["pass", "flaky", "pass", "flaky", "fail", "flaky"],
        "two": ["flaky", "flaky", "pass"],
        "long-ago": ["pass"] * 10 + ["flaky"] * 5,  # outside the window of ten
    }
    assert flaky_recipes(recent) == ["three"]


@pytest.mark.parametrize(("rows", "code"), [
    ([row(1, change="="), row(1, "flaky", change="flaky")], 0),
    ([row(1, change="new"), row(0, "error", change="regressed L1→L0")], 1),
    ([row(1, change="="), row(None, NOT_RUN, made=False)], 3),
    ([row(0, "error", change="regressed L1→L0"), row(None, NOT_RUN, made=False)], 1),
])
def test_exit_code(rows: list[Row], code: int) -> None:
    assert exit_code(rows) == code


def test_render_shows_each_column_and_the_notes() -> None:
    rows = [
        Row("alpha", "a" * 40, 1, "pass", "=", run_id="r1", target="local"),
        Row("beta", "b" * 40, 1, "flaky", "flaky", run_id="r2", retry_run_id="r3", retry_verdict="pass",
            target="ssh://ci@b", moved_from="ssh://ci@a"),
        Row("gamma", "c" * 40, 0, "error", "regressed L1→L0", run_id="r4", target="local",
            first_bad="d" * 40, first_bad_subject="use an image that is not there", error="install error"),
    ]
    text = render(rows, flaky=["beta"], events=["target ssh://ci@a went down; the recipes left run on ssh://ci@b"])
    lines = text.splitlines()
    assert lines[0].split() == ["recipe", "commit", "level", "verdict", "change", "target"]
    assert lines[1].split() == ["alpha", "a" * 12, "L1", "pass", "=", "local"]
    assert lines[3].split()[:5] == ["gamma", "c" * 12, "L0", "error", "regressed"]
    assert "target ssh://ci@a went down; the recipes left run on ssh://ci@b" in text
    assert "beta: target ssh://ci@a went down; ran on ssh://ci@b instead" in text
    assert "beta: run r2 failed, retried from scratch as r3: pass" in text
    assert f"gamma: first bad commit {'d' * 40} use an image that is not there" in text
    assert "flaky on 3+ of their last 10 catalogue runs: beta" in text
