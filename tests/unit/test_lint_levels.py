"""Issue 24, points 2 and 3: a lint error is what cannot work as written; what breaks only under
some conditions is a warning naming them (CCCI-L11: the domain length past which a secret's name
is too long for docker). Mistakes caught before deploying: an undefined `${VAR}` at its file and
line (CCCI-L14), the old version label (L15), a volume a release drops or renames (L16), a new
secret no release note names (L17). Each through `cc-ci lint`, with its exit code."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from runner.errors import BadInput
from runner.lint import RULES, lint_recipe
from runner.lint.rules import read_recipe
from runner.lint.scan import used_variables
from runner.recipe import bounded, git, naming
from runner.recipe.repos import bundled_recipe_repo
from tests.unit.test_lint import GOOD_COMPOSE, GOOD_ENV, _cli, _commit, make_lint_repo


@pytest.fixture
def lint_repo(tmp_path: Path) -> Callable[..., Path]:
    return make_lint_repo(tmp_path)


DB_SECRET = "    name: ${STACK_NAME}_db_password_${SECRET_DB_PASSWORD_VERSION}\n"


def _with_secret_name(name: str) -> dict[str, str | None]:
    return {"compose.yml": GOOD_COMPOSE.replace(DB_SECRET, f"    name: {name}\n")}


# -- point 2: levels ---------------------------------------------------------------------------

def test_no_rule_is_an_error_that_nothing_refuses() -> None:
    """The audit (docs/lint.md, "Levels"): errors are the rules whose finding docker, abra or
    cc-ci itself refuses; the conventions that break only under some conditions are warnings."""
    levels = {rule.id: rule.level for rule in RULES.values()}
    assert {rule for rule, level in levels.items() if level == "error"} == {
        "CCCI-L01", "CCCI-L02", "CCCI-L07", "CCCI-L10", "CCCI-L12", "CCCI-L13", "CCCI-L14", "CCCI-L15"}
    assert {rule for rule, level in levels.items() if level == "warn"} == {
        "CCCI-L03", "CCCI-L04", "R002", "CCCI-L05", "CCCI-L06", "CCCI-L08", "CCCI-L09", "CCCI-L11",
        "CCCI-L16", "CCCI-L17"}


@settings(max_examples=60, deadline=None)
@given(extra=st.integers(min_value=0, max_value=70))
@example(extra=0)  # 45 + `_db_password_v1`: fits every domain
@example(extra=4)  # the first length that does not
@example(extra=48)  # fits a one-character domain only
@example(extra=49)  # fits no domain
def test_l11_names_the_longest_domain_its_secret_name_fits(extra: int) -> None:
    """The N in "breaks for domains longer than N characters" is where naming.secret_name (what a
    run calls when it creates the secret) starts refusing: a domain of N characters fits, N+1 not."""
    key = "db_password" + "_x" * (extra // 2) + "y" * (extra % 2)
    recipe = read_recipe("head", {".env.sample": GOOD_ENV, "abra.sh": "export NGINX_CONF_VERSION=v1\n",
                                  "compose.yml": GOOD_COMPOSE.replace(
                                      DB_SECRET, f"    name: ${{STACK_NAME}}_{key}_${{SECRET_DB_PASSWORD_VERSION}}\n")}, {})
    found = list(RULES["CCCI-L11"].check(recipe))

    def fits(domain_length: int) -> bool:
        try:
            naming.secret_name(naming.stack_name("d" * domain_length), key, "v1")
        except BadInput:
            return False
        return True
    if fits(200):
        assert found == []
    elif not fits(1):
        [(file, message, level)] = found  # type: ignore[misc]
        assert level == "error" and "even with a one-character domain" in message and file == "compose.yml"
    else:
        [(file, message)] = found  # type: ignore[misc]
        n = int(message.split("breaks for domains longer than ")[1].split()[0])
        assert fits(n) and not fits(n + 1), message


def test_cc_ci_lint_warns_with_the_domain_length_and_exits_0(lint_repo: Callable[..., Path],
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's real recipe: `${STACK_NAME}_livebook_password_…` fits docker with the CI's
    stack name but not with every domain: a warning naming the length, never a red."""
    repo = lint_repo(_with_secret_name("${STACK_NAME}_livebook_password_${SECRET_DB_PASSWORD_VERSION}_aaaa"))
    assert _cli(str(repo)) == 0
    out = capsys.readouterr().out
    assert ("CCCI-L11  warn  compose.yml: secret db_password's docker name "
            "'${STACK_NAME}_livebook_password_${SECRET_DB_PASSWORD_VERSION}_aaaa' breaks for domains longer "
            "than 38 characters: the stack name is the domain with . as _ (up to 45 characters) and docker refuses "
            "names past 64; shorten it by 7 to fit every domain") in out
    assert "0 error(s), 1 warning(s), 0 opted out (exit 0" in out


def test_cc_ci_lint_a_name_too_long_for_every_domain_is_an_error(lint_repo: Callable[..., Path],
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    repo = lint_repo(_with_secret_name("${STACK_NAME}_" + "p" * 60 + "_${SECRET_DB_PASSWORD_VERSION}"))
    assert _cli(str(repo)) == 1
    out = capsys.readouterr().out
    assert ("CCCI-L11  error compose.yml: secret db_password's docker name '${STACK_NAME}_" + "p" * 60
            + "_${SECRET_DB_PASSWORD_VERSION}' is 65 characters long even with a one-character domain, past "
            "docker's 64, so docker refuses it for every app; shorten it by 1") in out


def test_l11_reads_config_names_too(lint_repo: Callable[..., Path]) -> None:
    repo = lint_repo({"compose.yml": GOOD_COMPOSE.replace("_nginx_conf_", "_nginx_configuration_file_for_the_app_")})
    [finding] = lint_recipe(repo, None, {})
    assert finding.rule == "CCCI-L11" and finding.level == "warn"
    assert "config nginx_conf's docker name" in finding.message and "longer than 24 characters" in finding.message


# -- point 3: CCCI-L14, variables nobody defines --------------------------------------------------

def test_cc_ci_lint_names_domian_at_its_file_and_line(lint_repo: Callable[..., Path],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    compose = GOOD_COMPOSE.replace('        - "traefik.enable=true"\n', '        - "traefik.enable=true"\n'
                                   '        - "traefik.http.routers.${STACK_NAME}.rule=Host(`${DOMIAN}`)"\n')
    repo = lint_repo({"compose.yml": compose})
    assert _cli(str(repo)) == 1
    out = capsys.readouterr().out
    line = compose.splitlines().index('        - "traefik.http.routers.${STACK_NAME}.rule=Host(`${DOMIAN}`)"') + 1
    assert (f"CCCI-L14  error compose.yml:{line}: ${{DOMIAN}} is set by neither .env.sample, abra.sh nor the "
            "harness (which sets STACK_NAME), so docker interpolates it as an empty string; did you mean DOMAIN? "
            "fix the name, or define it in .env.sample (or give a default: ${DOMIAN:-value})") in out
    assert "1 error(s), 0 warning(s)" in out


def test_l14_reads_every_file_of_the_chain_and_a_required_variable(lint_repo: Callable[..., Path]) -> None:
    repo = lint_repo({".env.sample": GOOD_ENV + 'COMPOSE_FILE="compose.yml:compose.smtp.yml"\n',
                      "compose.smtp.yml": "services:\n  app:\n    environment:\n      - SMTP_HOST=${SMTP_HOST:?set it}\n"})
    [finding] = lint_recipe(repo, None, {})
    assert finding.rule == "CCCI-L14" and finding.file == "compose.smtp.yml"
    assert finding.message.startswith("compose.smtp.yml:4: ${SMTP_HOST} is set by neither")
    assert "docker refuses the deploy while it is unset" in finding.message


_NAME = st.from_regex(r"[A-Z][A-Z0-9_]{0,12}", fullmatch=True).filter(
    lambda n: n not in ("STACK_NAME", "DOMAIN", "PATH", "HOME"))


@settings(max_examples=80, deadline=None)
@given(name=_NAME, default=st.text(alphabet="abc-/:.", max_size=5), lead=st.integers(0, 3))
def test_used_variables_reads_what_docker_interpolates(name: str, default: str, lead: int) -> None:
    """`${N}`, `$N` and `${N:?…}` are used without a default; `${N:-d}`/`${N-d}` have one; `$${N}`
    is an escaped dollar; a YAML comment is nothing. The line is the one the variable is on."""
    text = "\n" * lead + ("services:\n  app:\n    environment:\n"
                          f"      - A=${{{name}:-{default}}} ${{{name}-{default}}} $${{{name}}} $$$${name}\n"
                          f"      # - B=${{{name}}}\n"
                          f"      - C=${name}\n")
    data = bounded.load_yaml(text, "compose.yml")
    [used] = used_variables(text, data, "compose.yml")
    assert (used.name, used.line, used.required) == (name, lead + 6, False)
    assert used_variables(text.replace(f"- C=${name}\n", "- C=none\n"), bounded.load_yaml(
        text.replace(f"- C=${name}\n", "- C=none\n"), "compose.yml"), "compose.yml") == []


# -- point 3: CCCI-L16, a volume the data would not follow ----------------------------------------

def test_cc_ci_lint_names_a_renamed_volume(lint_repo: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's release that renames `db` to `pastes`: a warning (docker deploys it, and a
    maintainer may move the data on purpose), naming the service, the path and both volumes."""
    repo = lint_repo({"compose.yml": GOOD_COMPOSE.replace("pgdata", "pastes")})
    assert _cli(str(repo)) == 0
    out = capsys.readouterr().out
    assert ("CCCI-L16  warn  compose.yml: service db mounts /var/lib/postgresql/data from volume pastes, where "
            "1.0.0+1.27.0 mounted volume pgdata: on upgrade the data in pgdata does not follow (docker makes pastes "
            "empty)") in out


def test_l16_compares_with_the_release_before_a_tagged_head(lint_repo: Callable[..., Path]) -> None:
    """A head that is itself a release is compared with the release before it, not itself."""
    repo = lint_repo({"compose.yml": GOOD_COMPOSE.replace("pgdata", "pastes")}, tags={"1.1.0+1.27.0": True})
    assert [f.rule for f in lint_recipe(repo, None, {})] == ["CCCI-L16"]
    assert [f.rule for f in lint_recipe(repo, "1.0.0+1.27.0", {})] == []  # the first release: nothing before
    git.git(repo, "commit", "-q", "--allow-empty", "-m", "after the release")
    assert [f.rule for f in lint_recipe(repo, None, {})] == []  # compared with 1.1.0, which has pastes


# -- point 3: CCCI-L17, a new secret without a release note ---------------------------------------

def test_cc_ci_lint_warns_of_the_bundled_head_that_adds_a_secret(capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(str(bundled_recipe_repo("notes-tiny"))) == 0
    out = capsys.readouterr().out
    assert ("CCCI-L17  warn  .env.sample: the head adds secret api_token (not in 1.1.0+1.1) and no release note "
            "added since says so: operators upgrading must generate it first; add release/<version> (or "
            "release/next) saying e.g. `abra app secret generate <domain> api_token v1`") in out


def test_l17_a_note_of_the_previous_release_does_not_count(lint_repo: Callable[..., Path]) -> None:
    """Only a note added or changed since the previous release says what the head adds."""
    repo = lint_repo({"release/1.1.0+1.27.0": "Generate smtp_password first.\n"}, tags={"1.1.0+1.27.0": True})
    _commit(repo, {".env.sample": GOOD_ENV + "SECRET_SMTP_PASSWORD_VERSION=v1 # length=48\n"}, "adds a secret")
    assert [f.rule for f in lint_recipe(repo, None, {})] == ["CCCI-L17"]
    _commit(repo, {"release/next": "SECRET_SMTP_PASSWORD_VERSION is new: generate it before upgrading.\n"}, "a note")
    assert [f.rule for f in lint_recipe(repo, None, {})] == []
