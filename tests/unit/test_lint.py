"""Recipe lint (issue 16, part 5): every rule has a passing and a failing fixture, each a small git
repo built here; opt-outs need a reason; `cc-ci lint` exits 0/1/2."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.commands import lint as lint_command
from runner.errors import BadInput
from runner.lint import RULES, lint_recipe
from runner.lint.rules import image_tag
from runner.recipe import git
from runner.recipe.repos import bundled_recipe_repo
from tests.unit.hostile import alias_bomb

GOOD_COMPOSE = """version: "3.8"
services:
  app:
    image: nginx:1.27.0
    networks: [proxy]
    configs:
      - source: nginx_conf
        target: /etc/nginx/nginx.conf
    secrets: [db_password]
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost"]
      interval: 10s
    deploy:
      labels:
        - "traefik.enable=true"
        - "coop-cloud.${STACK_NAME}.version=1.0.0+1.27.0"
  db:
    image: postgres:16-alpine
    secrets: [db_password]
    volumes:
      - pgdata:/var/lib/postgresql/data
    healthcheck:
      test: ["CMD", "pg_isready"]
networks:
  proxy:
    external: true
volumes:
  pgdata:
configs:
  nginx_conf:
    name: ${STACK_NAME}_nginx_conf_${NGINX_CONF_VERSION}
    file: nginx.conf
secrets:
  db_password:
    external: true
    name: ${STACK_NAME}_db_password_${SECRET_DB_PASSWORD_VERSION}
"""
GOOD_ENV = """TYPE=good
DOMAIN=good.example.com
COMPOSE_FILE="compose.yml"
SECRET_DB_PASSWORD_VERSION=v1
"""
GOOD_FILES: dict[str, str | None] = {"compose.yml": GOOD_COMPOSE, ".env.sample": GOOD_ENV,
              "abra.sh": "export NGINX_CONF_VERSION=v1\n", "nginx.conf": "events {}\n"}

Files = dict[str, str | None]


@pytest.fixture
def lint_repo(tmp_path: Path) -> Callable[..., Path]:
    return make_lint_repo(tmp_path)


def make_lint_repo(tmp_path: Path) -> Callable[..., Path]:
    """`lint_repo(files, tags)`: a released commit of the good recipe (annotated 1.0.0+1.27.0), then
    a head commit with `files` applied (None deletes) and `tags` = {name: annotated?} on it."""
    def make(files: Files | None = None, tags: dict[str, bool] | None = None) -> Path:
        repo = tmp_path / "recipe"
        repo.mkdir()
        git.git(repo, "init", "-q", "-b", "main")
        _commit(repo, GOOD_FILES, "chore: publish 1.0.0+1.27.0 release")
        git.git(repo, "tag", "-a", "1.0.0+1.27.0", "-m", "chore: publish 1.0.0+1.27.0 release")
        _commit(repo, files or {}, "the PR head", allow_empty=True)
        for name, annotated in (tags or {}).items():
            git.git(repo, "tag", *(["-a", "-m", name] if annotated else []), name)
        return repo
    return make


def _commit(repo: Path, files: Files, message: str, allow_empty: bool = False) -> None:
    for name, text in files.items():
        path = repo / name
        if text is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    git.git(repo, "add", "-A")
    git.git(repo, "commit", "-q", *(["--allow-empty"] if allow_empty else []), "-m", message)


def _rules(repo: Path, ref: str | None = None) -> list[str]:
    return [f.rule for f in lint_recipe(repo, ref, {})]


def test_the_good_recipe_lints_clean(lint_repo: Callable[..., Path]) -> None:
    assert lint_recipe(lint_repo(), None, {}) == []


# (rule, what the head commit changes, a phrase of the message). Each would pass on the good recipe.
FAILING = [
    ("CCCI-L01", {"compose.yml": "services:\n  app: [unclosed\n"}, "compose.yml: does not parse: line"),
    ("CCCI-L01", {".env.sample": GOOD_ENV + 'COMPOSE_FILE="compose.yml:compose.extra.yml"\n'},
     "compose.extra.yml: missing at"),
    ("CCCI-L01", {"compose.yml": "services: [app, db]\n"}, "services: is not a mapping"),
    ("CCCI-L01", {"compose.yml": GOOD_COMPOSE + "x-released: 2020-13-45\n"}, "compose.yml: does not load: month must be in 1..12; fix the value"),
    ("CCCI-L02", {"compose.yml": GOOD_COMPOSE.replace("    image: postgres:16-alpine\n", "    build: .\n")},
     "service db has no image (swarm cannot build"),
    ("CCCI-L03", {"compose.yml": GOOD_COMPOSE.replace("nginx:1.27.0", "nginx")}, "image nginx has no tag"),
    ("CCCI-L03", {"compose.yml": GOOD_COMPOSE.replace("nginx:1.27.0", "nginx:latest")}, "uses latest"),
    ("CCCI-L04", {"compose.yml": GOOD_COMPOSE.replace("postgres:16-alpine", "postgres:stable")},
     "tag 'stable' is not a version"),
    ("R002", {"compose.yml": GOOD_COMPOSE.replace('      test: ["CMD", "pg_isready"]\n', "      disable: true\n")},
     "service db has no healthcheck"),
    ("CCCI-L05", {"compose.yml": GOOD_COMPOSE.replace("  app:\n", "  web:\n")}, "no service is named app"),
    ("CCCI-L06", {"compose.yml": GOOD_COMPOSE.replace('        - "traefik.enable=true"\n', "")},
     "service app has no traefik.enable=true"),
    ("CCCI-L07", {".env.sample": None}, ".env.sample: missing at"),
    ("CCCI-L07", {".env.sample": GOOD_ENV + "not a setting\n"}, ".env.sample:5: not a KEY=VALUE line"),
    ("CCCI-L10", {"abra.sh": "# nothing vendored\n"}, "config nginx_conf's name uses ${NGINX_CONF_VERSION}"),
    ("CCCI-L10", {".env.sample": GOOD_ENV.replace("SECRET_DB_PASSWORD_VERSION=v1\n", "")},
     "add `SECRET_DB_PASSWORD_VERSION=v1` to .env.sample"),
    ("CCCI-L11", {"compose.yml": GOOD_COMPOSE.replace("db_password", "database_superuser_password")},
     "secret database_superuser_password's docker name '${STACK_NAME}_database_superuser_password_"
     "${SECRET_DB_PASSWORD_VERSION}' breaks for domains longer than 33 characters"),
    ("CCCI-L12", {"compose.yml": alias_bomb()}, "compose.yml: its aliases expand it past 100,000 YAML nodes"),
    ("CCCI-L12", {".env.sample": GOOD_ENV + "BIG=" + "x" * 70_000 + "\n"}, ".env.sample: 68 KiB is past cc-ci's limit"),
    ("CCCI-L12", {".env.sample": GOOD_ENV + "A=" + "x" * 9_000 + "\nB=$A$A$A$A$A$A$A$A\n"},
     ".env.sample:6: the values up to here come to more than 64 KiB"),
    ("CCCI-L12", {"abra.sh": "export NGINX_CONF_VERSION=v1\n" + "#" * 70_000 + "\n"}, "abra.sh: 68 KiB is past"),
    ("CCCI-L13", {"compose.yml": GOOD_COMPOSE.replace("file: nginx.conf", "file: /etc/hostname")},
     "compose.yml: configs.nginx_conf.file: /etc/hostname is an absolute path, outside the recipe"),
    ("CCCI-L14", {"compose.yml": GOOD_COMPOSE.replace("    networks: [proxy]\n", "    networks: [proxy]\n    environment:\n"
                                                      "      - GREETING=${GRETING}\n")},
     "compose.yml:7: ${GRETING} is set by neither .env.sample, abra.sh nor the harness (which sets STACK_NAME)"),
    ("CCCI-L15", {"compose.yml": GOOD_COMPOSE.replace(".version=", ".app.version=")},
     "compose.yml:16: service app labels its version the old way, coop-cloud.${STACK_NAME}.app.version, which abra and "
     "cc-ci do not read (the app's version reads as unknown); rename it to coop-cloud.${STACK_NAME}.version"),
    ("CCCI-L15", {"compose.yml": GOOD_COMPOSE.replace('        - "coop-cloud.${STACK_NAME}.version=1.0.0+1.27.0"\n', "")},
     "compose.yml: no service has the label coop-cloud.${STACK_NAME}.version"),
    ("CCCI-L16", {"compose.yml": GOOD_COMPOSE.replace("pgdata", "db")},
     "compose.yml: service db mounts /var/lib/postgresql/data from volume db, where 1.0.0+1.27.0 mounted volume "
     "pgdata: on upgrade the data in pgdata does not follow"),
    ("CCCI-L16", {"compose.yml": GOOD_COMPOSE.replace("      - pgdata:/var/lib/postgresql/data\n", "")},
     "compose.yml: volume pgdata, mounted by service db at /var/lib/postgresql/data in 1.0.0+1.27.0, is mounted by "
     "no service now"),
    ("CCCI-L17", {".env.sample": GOOD_ENV + "SECRET_SMTP_PASSWORD_VERSION=v1 # length=48\n"},
     ".env.sample: the head adds secret smtp_password (not in 1.0.0+1.27.0) and no release note added since says so: "
     "operators upgrading must generate it first; add release/<version> (or release/next) saying e.g. "
     "`abra app secret generate <domain> smtp_password v1`"),
    ("CCCI-L13", {"compose.yml": GOOD_COMPOSE.replace("    secrets: [db_password]\n    volumes:",
                                                      "    env_file: ../../.ssh/env\n    volumes:")},
     "compose.yml: services.db.env_file: ../../.ssh/env leads out of the recipe"),
]


@pytest.mark.parametrize(("rule", "change", "phrase"), FAILING, ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(FAILING)])
def test_each_rule_names_the_file_and_the_fix_when_broken(lint_repo: Callable[..., Path], rule: str,
                                                         change: Files, phrase: str) -> None:
    findings = lint_recipe(lint_repo(change), None, {})
    mine = [f for f in findings if f.rule == rule]
    assert mine, f"{rule} found nothing; got {[f.line() for f in findings]}"
    assert any(phrase in f.message for f in mine), [f.message for f in mine]
    assert all(f.level == RULES[rule].level and "\n" not in f.message and ";" in f.message for f in mine)


def test_a_file_that_does_not_parse_is_named_once(lint_repo: Callable[..., Path]) -> None:
    repo = lint_repo({"compose.yml": "services: [\n", "compose.vol.yml": "volumes:\n  data:\n",
                      ".env.sample": GOOD_ENV + 'COMPOSE_FILE="compose.yml:compose.vol.yml"\n'})
    messages = [f.message for f in lint_recipe(repo, None, {}) if f.rule == "CCCI-L01"]
    assert len(messages) == 1 and messages[0].startswith("compose.yml: does not parse")


def test_a_symlink_out_of_the_recipe_is_one_ccci_l13_error_and_nothing_else(lint_repo: Callable[..., Path],
                                                                           tmp_path: Path) -> None:
    """A compose.yml committed as a symlink to a harness-host file: CCCI-L13 names it; it is not
    read (no CCCI-L01 "missing", no rule judging the file it points at); a symlinked config file too."""
    repo = lint_repo()
    for name, target in (("compose.yml", "/etc/hostname"), ("nginx.conf", "../../../etc/hostname")):
        (repo / name).unlink()
        (repo / name).symlink_to(target)
    git.git(repo, "commit", "-q", "-am", "symlinks out")
    findings = lint_recipe(repo, None, {})
    assert [(f.rule, f.level) for f in findings] == [("CCCI-L13", "error")], [f.line() for f in findings]
    assert ":compose.yml: compose.yml (a symlink to /etc/hostname) leads out of the recipe; " in findings[0].message
    (repo / "compose.yml").unlink()
    (repo / "compose.yml").write_text(GOOD_COMPOSE)
    git.git(repo, "commit", "-q", "-am", "compose.yml back, nginx.conf still a symlink out")
    assert [f.message.split(";")[0] for f in lint_recipe(repo, None, {})] == [
        "compose.yml: configs.nginx_conf.file: nginx.conf (a symlink to ../../../etc/hostname) leads out of the recipe "
        "(the docker CLI would read it on the harness host and hand it to the swarm)"]


def test_every_rule_has_a_failing_fixture() -> None:
    assert {rule for rule, _, _ in FAILING} | {"CCCI-L08", "CCCI-L09"} == set(RULES)


def test_release_tags_must_be_semver_plus_upstream(lint_repo: Callable[..., Path]) -> None:
    repo = lint_repo(tags={"v1.1": True, "1.1.0+1.28.0": True, "1.2.0-rc1+1.28.0-alpine": True})
    findings = [f for f in lint_recipe(repo, None, {}) if f.rule == "CCCI-L08"]
    assert [f.message.split(":")[0] for f in findings] == ["git tag v1.1"]


def test_release_tags_must_be_annotated(lint_repo: Callable[..., Path]) -> None:
    repo = lint_repo(tags={"1.1.0+1.28.0": False, "1.2.0+1.28.0": True})
    findings = [f for f in lint_recipe(repo, None, {}) if f.rule == "CCCI-L09"]
    assert len(findings) == 1 and "git tag 1.1.0+1.28.0: a lightweight tag" in findings[0].message
    assert "git tag -f -a 1.1.0+1.28.0" in findings[0].message


def test_tags_not_reachable_from_the_ref_are_not_judged(lint_repo: Callable[..., Path]) -> None:
    repo = lint_repo(tags={"junk": False})
    assert "CCCI-L09" in _rules(repo) and _rules(repo, "1.0.0+1.27.0") == []


PASSING = [
    ("a digest pins an image", {"compose.yml": GOOD_COMPOSE.replace("nginx:1.27.0", "nginx@sha256:" + "a" * 64)}),
    ("a registry port is no tag", {"compose.yml": GOOD_COMPOSE.replace("nginx:1.27.0", "reg.example:5000/nginx:1.27")}),
    ("an image from .env.sample", {"compose.yml": GOOD_COMPOSE.replace("nginx:1.27.0", "${APP_IMAGE:-nginx:1.27.0}")}),
    ("labels as a map", {"compose.yml": GOOD_COMPOSE.replace('        - "traefik.enable=true"\n', "")
                         .replace('        - "coop-cloud.${STACK_NAME}.version=1.0.0+1.27.0"\n',
                                  '        traefik.enable: "true"\n        coop-cloud.${STACK_NAME}.version: 1.0.0+1.27.0\n')}),
    ("an override file adds to a service", {
        ".env.sample": GOOD_ENV + 'COMPOSE_FILE="$COMPOSE_FILE:compose.smtp.yml"\n',
        "compose.smtp.yml": "services:\n  app:\n    environment: [SMTP_HOST]\n"}),
    ("a secret without a name", {"compose.yml": GOOD_COMPOSE.replace(
        "    name: ${STACK_NAME}_db_password_${SECRET_DB_PASSWORD_VERSION}\n", "")}),
    ("a computed config version export", {"abra.sh": "export NGINX_CONF_VERSION=$(date +%s)\n"}),
    ("variables with defaults, escaped, documented, from abra.sh or the harness", {
        "compose.yml": GOOD_COMPOSE.replace("    networks: [proxy]\n", "    networks: [proxy]\n    environment:\n"
                                            "      - A=${NOT_SET:-x} ${ALSO_NOT-y} $${ESCAPED} $$$${ESCAPED_TOO}\n"
                                            "      - B=${SMTP_HOST} ${FROM_ABRA} $DOMAIN ${HOME}\n"
                                            "      # - C=${IN_A_COMMENT}\n"),
        ".env.sample": GOOD_ENV + "#SMTP_HOST=mail.example.com\n",
        "abra.sh": "export NGINX_CONF_VERSION=v1\nexport FROM_ABRA=$(cat /etc/hostname)\n"}),
    ("a volume kept under a new key by its name", {"compose.yml": GOOD_COMPOSE.replace("pgdata", "db").replace(
        "volumes:\n  db:\n", "volumes:\n  db:\n    name: ${STACK_NAME}_pgdata\n")}),
    ("a new secret the release note names", {".env.sample": GOOD_ENV + "SECRET_SMTP_PASSWORD_VERSION=v1\n",
                                             "release/next": "Generate the new smtp_password secret first.\n"}),
]


@pytest.mark.parametrize(("why", "change"), PASSING, ids=[why for why, _ in PASSING])
def test_valid_variants_lint_clean(lint_repo: Callable[..., Path], why: str, change: Files) -> None:
    assert [f.line() for f in lint_recipe(lint_repo(change), None, {})] == []


def test_a_secret_name_at_the_limit_passes(lint_repo: Callable[..., Path]) -> None:
    # 45 (stack) + 1 + 15 + 1 + 2 (v1) = 64
    at_limit = lint_repo({"compose.yml": GOOD_COMPOSE.replace("db_password", "db_password_abc")})
    assert "CCCI-L11" not in _rules(at_limit)


def test_lint_reads_the_recipe_at_the_ref_not_the_work_tree(lint_repo: Callable[..., Path]) -> None:
    repo = lint_repo({"compose.yml": GOOD_COMPOSE.replace("nginx:1.27.0", "nginx:latest")})
    (repo / "compose.yml").write_text("not: [valid\n")  # uncommitted: no ref has it
    assert _rules(repo) == ["CCCI-L03"]
    assert _rules(repo, "1.0.0+1.27.0") == []
    with pytest.raises(BadInput, match="'nope' is not a commit, branch or tag"):
        lint_recipe(repo, "nope", {})


def test_an_opt_out_keeps_the_finding_but_blocks_nothing(lint_repo: Callable[..., Path]) -> None:
    repo = lint_repo({"compose.yml": GOOD_COMPOSE.replace("  app:\n", "  web:\n")})
    [finding] = lint_recipe(repo, None, {"CCCI-L05": "  the web service is  called web upstream "})
    assert finding.opted_out == "the web service is called web upstream" and not finding.blocking
    assert finding.line().endswith("[opted out: the web service is called web upstream]")


@pytest.mark.parametrize(("opt_outs", "phrase"), [({"CCCI-L05": ""}, "has no reason"),
                                                  ({"CCCI-L05": "   "}, "has no reason"),
                                                  ({"R999": "why"}, "'R999' is not a lint rule")])
def test_an_opt_out_without_a_reason_or_of_no_rule_is_bad_input(lint_repo: Callable[..., Path],
                                                                opt_outs: dict[str, str], phrase: str) -> None:
    with pytest.raises(BadInput, match=phrase):
        lint_recipe(lint_repo(), None, opt_outs)


def test_image_tag_reads_references_like_docker() -> None:
    assert image_tag("nginx") is None and image_tag("reg:5000/nginx") is None
    assert image_tag("reg:5000/nginx:1.2") == "1.2" and image_tag("nginx:1.2@sha256:ab") == "1.2"


# The bundled recipes' findings, as docs/lint.md lists them: their release tags are annotated
# (recipes.py tags with `git tag -a`, like abra), and notes-tiny's worker has no healthcheck (a warning).
BUNDLED: dict[str, list[str]] = {
    "custom-html-tiny": [],
    "custom-html-repolocal": [],
    "hops-tiny": [],
    "notes-tiny": ["R002 worker", "CCCI-L17 .env.sample"],  # its head adds the api_token secret
    "notes-sso": [],
    "sso-tiny": [],
}


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_the_bundled_recipes_break_only_the_rules_the_docs_list(name: str) -> None:
    findings = lint_recipe(bundled_recipe_repo(name), None, {})
    shown = [f"{f.rule} {f.message.split(':')[0].split()[-1] if f.rule != 'R002' else f.message.split()[2]}"
             for f in findings]
    assert shown == BUNDLED[name]


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    lint_command.add_arguments(parser)
    return lint_command.main(parser.parse_args(list(argv)))


def test_cc_ci_lint_exit_codes(lint_repo: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    clean = lint_repo({"compose.yml": GOOD_COMPOSE.replace('      test: ["CMD", "pg_isready"]\n', "      disable: true\n")})
    assert _cli(str(clean)) == 0  # a warning only
    assert "R002      warn  compose.yml: service db has no healthcheck" in capsys.readouterr().out
    git.git(clean, "tag", "1.1.0+1.27.0")  # lightweight: a warning, not an error (issue 24: nothing refuses it)
    assert _cli(str(clean)) == 0
    assert "0 error(s), 2 warning(s), 0 opted out (exit 0" in capsys.readouterr().out
    _commit(clean, {"compose.yml": GOOD_COMPOSE.replace(".version=", ".app.version=")}, "the old version label")
    assert _cli(str(clean)) == 1
    out = capsys.readouterr().out
    assert ("CCCI-L15  error compose.yml:16: service app labels its version the old way, "
            "coop-cloud.${STACK_NAME}.app.version") in out and "rename it to coop-cloud.${STACK_NAME}.version" in out
    assert "1 error(s), 1 warning(s), 0 opted out (exit 1" in out
    assert _cli(str(clean), "--opt-out", "CCCI-L15=labelled by hand") == 0
    with pytest.raises(BadInput, match="give RULE=REASON"):
        _cli(str(clean), "--opt-out", "CCCI-L15")
    with pytest.raises(BadInput, match="RECIPE"):
        _cli(str(clean / "nowhere"))
