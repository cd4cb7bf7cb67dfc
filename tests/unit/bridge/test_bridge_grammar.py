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
def test_ordinary_text_is_not_a_trigger(body):
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
def test_bare_testme_runs_the_default_stages(body):
    assert parse_trigger(body) == Trigger(("install",))


def test_default_stages_come_from_config():
    assert parse_trigger("!testme", default_stages=("upgrade", "install")) == Trigger(
        ("install", "upgrade")
    )


def test_stage_list_is_put_in_lifecycle_order_without_repeats():
    assert parse_trigger("!testme stages=restore,install,backup,install") == Trigger(
        ("install", "backup", "restore")
    )
    assert parse_trigger("!testme   stages=custom") == Trigger(("custom",))


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
def test_malformed_options_explain_themselves(body, reason):
    assert parse_trigger(body) == Malformed(reason)


def test_a_known_stage_the_harness_cannot_run_yet_is_refused_with_what_it_can():
    assert parse_trigger("!testme stages=install,backup", available=("install",)) == Malformed(
        "stage `backup` is not available on this cc-ci (available: install)"
    )
    assert parse_trigger("!testme stages=install", available=("install",)) == Trigger(("install",))


def test_reply_quotes_input_short_and_without_backticks():
    result = parse_trigger("!testme " + "`" * 5 + "x" * 100)
    assert isinstance(result, Malformed)
    assert "``" not in result.reason and len(result.reason) < 120


def test_grammar_help_documents_the_option_and_never_triggers_itself():
    assert "stages=" in GRAMMAR_HELP
    assert parse_trigger(GRAMMAR_HELP) == NotATrigger()


def test_sha_option_pins_a_commit_prefix_in_lower_case():
    assert parse_trigger("!testme sha=ABCDEF1") == Trigger(("install",), "abcdef1")
    assert parse_trigger("!testme stages=upgrade sha=" + "a" * 40) == Trigger(
        ("upgrade",), "a" * 40
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
def test_a_bad_sha_option_explains_itself(body, reason):
    assert parse_trigger(body) == Malformed(reason)


@pytest.mark.parametrize("control", ["\x00", "\x1b", "\x7f", "\u202e", "\u200b"])
def test_control_characters_never_reach_a_reply(control):
    result = parse_trigger(f"!testme fo{control}o=1 ")
    assert isinstance(result, Malformed)
    assert result.reason == "unknown option `foo`"
    result = parse_trigger(f"!testme stages=inst{control}all")
    assert isinstance(result, Malformed)
    assert result.reason == "unknown stage `install`"
