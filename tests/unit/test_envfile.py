"""`.env` parsing like abra: the rules recipe maintainers rely on in .env.sample."""

from __future__ import annotations

import pytest

from runner.errors import BadInput
from runner.recipe.envfile import (
    DEFAULT_SECRET_LENGTH,
    SecretSpec,
    compose_files,
    parse_abra_exports,
    parse_env,
    secret_specs,
)


def test_comments_and_blank_lines_are_skipped() -> None:
    env = parse_env("# a comment\n\nTYPE=app\n   # indented comment\n#DISABLED=1\n")
    assert env.values == {"TYPE": "app"}


def test_inline_comment_after_whitespace_ends_an_unquoted_value() -> None:
    env = parse_env("A=one # two\nB=x#y\n")
    assert env.values == {"A": "one", "B": "x#y"}


def test_export_prefix_is_accepted() -> None:
    assert parse_env("export A=1\n").values == {"A": "1"}


def test_double_quotes_keep_spaces_and_hashes_and_resolve_escapes() -> None:
    env = parse_env('A="a # b"\nB="line\\nnext \\"q\\""\n')
    assert env.values == {"A": "a # b", "B": 'line\nnext "q"'}


def test_single_quotes_are_literal() -> None:
    env = parse_env("X=1\nA='$X and ${X} \\n'\n")
    assert env.values["A"] == "$X and ${X} \\n"


def test_dollar_and_braced_references_expand_from_earlier_lines() -> None:
    env = parse_env("HOST=example.org\nURL=https://$HOST/\nURL2=\"${HOST}:8080\"\n")
    assert env.values["URL"] == "https://example.org/"
    assert env.values["URL2"] == "example.org:8080"


def test_undefined_references_expand_to_empty_or_their_default() -> None:
    env = parse_env("A=x${NOPE}y\nB=${NOPE:-fallback}\n")
    assert env.values == {"A": "xy", "B": "fallback"}


def test_expansion_never_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCCI_LEAK", "from-os")
    assert parse_env("A=$CCCI_LEAK\n").values["A"] == ""


def test_escaped_dollar_in_double_quotes_stays_literal() -> None:
    assert parse_env('X=1\nA="\\$X"\n').values["A"] == "$X"


def test_overrides_replace_the_files_value_before_later_lines_expand_it() -> None:
    env = parse_env("DOMAIN=example.com\nURL=https://$DOMAIN\n", overrides={"DOMAIN": "run.test"})
    assert env.values == {"DOMAIN": "run.test", "URL": "https://run.test"}


def test_compose_file_chain_accumulates_and_splits_on_colons() -> None:
    text = 'COMPOSE_FILE="compose.yml"\n#COMPOSE_FILE="$COMPOSE_FILE:compose.off.yml"\nCOMPOSE_FILE="$COMPOSE_FILE:compose.smtp.yml"\n'
    assert compose_files(parse_env(text).values) == ["compose.yml", "compose.smtp.yml"]


def test_compose_file_defaults_to_compose_yml() -> None:
    assert compose_files({}) == ["compose.yml"]


@pytest.mark.parametrize("entry", ["../other/compose.yml", "/etc/compose.yml"])
def test_compose_files_outside_the_recipe_are_refused(entry: str) -> None:
    with pytest.raises(BadInput, match="leaves the recipe directory"):
        compose_files({"COMPOSE_FILE": f"compose.yml:{entry}"})


def test_length_modifier_sets_the_generated_secret_length() -> None:
    env = parse_env("SECRET_DB_PASSWORD_VERSION=v1 # length=24\nSECRET_API_KEY_VERSION=v2\nOTHER=v1 # length=9\n")
    assert secret_specs(env) == [SecretSpec("db_password", "v1", 24),
                                 SecretSpec("api_key", "v2", DEFAULT_SECRET_LENGTH)]


def test_modifiers_survive_quoted_values() -> None:
    env = parse_env('SECRET_X_VERSION="v3" # length=12 charset=special\n')
    assert env.modifiers["SECRET_X_VERSION"] == {"length": "12", "charset": "special"}
    assert secret_specs(env)[0].length == 12


def test_bad_length_modifier_is_a_clear_error() -> None:
    with pytest.raises(BadInput, match="SECRET_X_VERSION: length='lots'"):
        secret_specs(parse_env("SECRET_X_VERSION=v1 # length=lots\n"))


@pytest.mark.parametrize("line", ["just words", "1BAD=x", 'A="unterminated'])
def test_malformed_lines_name_the_file_and_line(line: str) -> None:
    with pytest.raises(BadInput, match=r"^\.env\.sample:2: "):
        parse_env(f"OK=1\n{line}\n", source=".env.sample")


def test_abra_sh_exports_are_read_without_running_anything() -> None:
    text = (
        "export NGINX_CONF_VERSION=v2\n"
        "export ENTRYPOINT_VERSION='v5' # bumped\n"
        "export COMPUTED=$(rm -rf /)\n"
        "export FROM_VAR=$OTHER\n"
        "custom_fn() { export INSIDE=1; }\n"
        "echo hi\n"
    )
    assert parse_abra_exports(text) == {"NGINX_CONF_VERSION": "v2", "ENTRYPOINT_VERSION": "v5"}
