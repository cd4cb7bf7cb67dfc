"""The `!testme` grammar as a specification."""

from __future__ import annotations

import pytest

from runner.bridge.grammar import (
    GRAMMAR_HELP,
    Malformed,
    NotATrigger,
    Trigger,
    looks_like_trigger,
    parse_trigger,
)
from runner.bridge.refusals import malformed_body
from runner.ops import LIFECYCLE


@pytest.mark.parametrize(
    "body",
    [
        "",
        "lgtm",
        "!testmexyz",
        "!TESTME",
        "please !testme",
        "looks good\n!testme",
        "`!testme`",
        "!test me",
    ],
)
def test_ordinary_text_is_not_a_trigger(body: str) -> None:
    assert parse_trigger(body) == NotATrigger()
    assert not looks_like_trigger(body)


@pytest.mark.parametrize(
    "body",
    [
        "!testme",
        "!testme\n",
        "  !testme  ",
        "!testme\r\nthanks!",
        "\ufeff!testme",
        "!testme\n\nstages=upgrade",
    ],
)
def test_bare_testme_runs_what_a_hand_run_runs_by_default(body: str) -> None:
    assert parse_trigger(body) == Trigger(LIFECYCLE.default_stages)
    assert parse_trigger(body) == Trigger(("lint", "install", "idempotent"))


def test_default_stages_come_from_config() -> None:
    assert parse_trigger("!testme", default_stages=("upgrade", "install")) == Trigger(
        ("install", "upgrade")
    )


def test_stage_list_is_put_in_lifecycle_order_without_repeats() -> None:
    assert parse_trigger("!testme stages=restore,install,backup,install") == Trigger(
        ("install", "backup", "restore")
    )


@pytest.mark.parametrize(
    ("asked", "runs"),
    [
        ("custom", ("install", "custom")),
        ("restore", ("install", "backup", "restore")),
        ("idempotent", ("install", "idempotent")),
        ("restore-fresh,lint", ("lint", "install", "backup", "restore-fresh")),
    ],
)
def test_stage_list_brings_in_what_its_stages_need_as_the_harness_does(
    asked: str, runs: tuple[str, ...]
) -> None:
    # one spelling per stage set the harness runs: one status context, one queue key
    assert parse_trigger(f"!testme stages={asked}") == Trigger(runs)
    assert LIFECYCLE.stages(asked.split(",")) == runs


@pytest.mark.parametrize("stage", LIFECYCLE.names)
def test_every_lifecycle_op_may_be_asked_for(stage: str) -> None:
    assert parse_trigger(f"!testme stages={stage}") == Trigger(LIFECYCLE.stages([stage]))


def test_lint_and_install_are_accepted_as_asked() -> None:
    assert parse_trigger("!testme stages=lint,install") == Trigger(("lint", "install"))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("!testme foo", "`foo` is not an option (options look like key=value)"),
        ("!testme colour=red", "unknown option `colour`"),
        ("!testme stages=", "`stages` needs a comma-separated list without empty entries"),
        ("!testme stages=install,", "`stages` needs a comma-separated list without empty entries"),
        (
            "!testme stages=install upgrade",
            "`upgrade` is not an option (options look like key=value)",
        ),
        ("!testme stages=deploy", "unknown stage `deploy`"),
        ("!testme stages=install stages=upgrade", "`stages` given twice"),
    ],
)
def test_malformed_options_explain_themselves(body: str, reason: str) -> None:
    assert parse_trigger(body) == Malformed(reason)


def test_an_unknown_stage_gets_one_line_naming_it_and_every_stage_there_is() -> None:
    result = parse_trigger("!testme stages=lint,deploy")
    assert result == Malformed("unknown stage `deploy`")
    reply = malformed_body(result.reason)
    assert reply.splitlines()[0] == "cc-ci: unknown stage `deploy`. No run started."
    assert ",".join(LIFECYCLE.names) in reply


def test_a_known_stage_the_harness_cannot_run_yet_is_refused_with_what_it_can() -> None:
    assert parse_trigger("!testme stages=install,backup", available=("install",)) == Malformed(
        "stage `backup` is not available on this cc-ci (available: install)"
    )
    assert parse_trigger("!testme stages=install", available=("install",)) == Trigger(("install",))


def test_a_stage_whose_need_is_not_offered_is_refused_naming_the_need() -> None:
    offered = ("install", "restore")
    assert parse_trigger("!testme stages=restore", available=offered) == Malformed(
        "stage `restore` needs `backup`, which is not available on this cc-ci (available: install,restore)"
    )


def test_reply_quotes_input_short_and_without_backticks() -> None:
    result = parse_trigger("!testme " + "`" * 5 + "x" * 100)
    assert isinstance(result, Malformed)
    assert "``" not in result.reason and len(result.reason) < 120


def test_grammar_help_documents_the_option_and_never_triggers_itself() -> None:
    assert "stages=" in GRAMMAR_HELP
    assert parse_trigger(GRAMMAR_HELP) == NotATrigger()


def test_sha_option_pins_a_commit_prefix_in_lower_case() -> None:
    assert parse_trigger("!testme sha=ABCDEF1") == Trigger(LIFECYCLE.default_stages, "abcdef1")
    assert parse_trigger("!testme stages=upgrade sha=" + "a" * 40) == Trigger(
        ("install", "upgrade"), "a" * 40
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("!testme sha=abc", "`sha=abc` is not a commit (7 to 40 hex digits)"),
        ("!testme sha=main", "`sha=main` is not a commit (7 to 40 hex digits)"),
        ("!testme sha=" + "a" * 41, "`sha=" + "a" * 40 + "…` is not a commit (7 to 40 hex digits)"),
        ("!testme sha=abcdef1 sha=abcdef1", "`sha` given twice"),
    ],
)
def test_a_bad_sha_option_explains_itself(body: str, reason: str) -> None:
    assert parse_trigger(body) == Malformed(reason)


@pytest.mark.parametrize("control", ["\x00", "\x1b", "\x7f", "\u202e", "\u200b"])
def test_control_characters_never_reach_a_reply(control: str) -> None:
    result = parse_trigger(f"!testme fo{control}o=1 ")
    assert isinstance(result, Malformed)
    assert result.reason == "unknown option `foo`"
    result = parse_trigger(f"!testme stages=inst{control}all")
    assert isinstance(result, Malformed)
    assert result.reason == "unknown stage `install`"
