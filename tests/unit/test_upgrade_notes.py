"""Upgrade notes: what the head adds that an operator must act on before upgrading a real app (a
new secret to generate, a bumped secret version, a new env var or volume) is said in words on the
console, in results.json and summary.md (the PR comment's body); never a failure, never silent."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from runner.ops import LIFECYCLE
from runner.ops.upgrade import env_words
from runner.orchestrator import Run
from runner.recipe import git
from runner.recipe.envfile import SecretSpec
from runner.recipe.upgradenotes import upgrade_notes
from runner.record.results import RunResult, summary_markdown
from runner.run.config import RunConfig
from tests.unit.conftest import RECIPE_COMPOSE
from tests.unit.fake_driver import FakeDriver
from tests.unit.test_orchestrator import Tiers

SMTP = ("the head adds secret smtp_password (v1, length 48): generate it before upgrading, "
        "e.g. `abra app secret generate <domain> smtp_password v1`")
BASE = 'version: "3.8"\nservices:\n  app:\n    image: x\n    volumes: ["db:/var/lib/db"]\nvolumes:\n  db:\n'
HEAD = ('version: "3.8"\nservices:\n  app:\n    image: x\n    volumes: ["db:/var/lib/db", "uploads:/srv/up"]\n'
        'volumes:\n  db:\n  uploads:\nconfigs:\n  nginx_conf:\n    file: nginx.conf\n')


def test_a_new_secret_is_named_with_the_command_that_generates_it() -> None:
    notes = upgrade_notes("the head", {"SECRET_SMTP_PASSWORD_VERSION": "v1"}, {},
                          [SecretSpec("smtp_password", "v1", 48)], [BASE], [BASE])
    assert notes == [SMTP]


def test_a_bumped_secret_a_new_env_var_volume_and_config_are_each_a_note() -> None:
    notes = upgrade_notes("release 1.1.0+1.1", {"SMTP_HOST": "smtp.example.com"},
                          {"SECRET_DB_PASSWORD_VERSION": ("v1", "v2")}, [], [BASE], [HEAD])
    assert notes == [
        "release 1.1.0+1.1 bumps secret db_password from v1 to v2: generate the new version before upgrading, "
        "e.g. `abra app secret generate <domain> db_password v2`",
        "release 1.1.0+1.1 adds env var SMTP_HOST (its .env.sample: `SMTP_HOST=smtp.example.com`): add it to "
        "the app's env before upgrading (`abra app config <domain>`)",
        "release 1.1.0+1.1 adds volume uploads (mounted by app at /srv/up): it starts empty when the app is upgraded",
        "release 1.1.0+1.1 adds config nginx_conf: abra deploys it from the recipe; check the env it reads, if any",
    ]


def test_nothing_new_is_no_note() -> None:
    assert upgrade_notes("the head", {}, {}, [], [HEAD], [HEAD]) == []


def test_the_env_change_is_told_in_words_not_counts() -> None:
    words = env_words({"SMTP_HOST": "x", "SECRET_SMTP_PASSWORD_VERSION": "v1"},
                      {"SECRET_DB_PASSWORD_VERSION": ("v1", "v2"), "MODE": ("a", "b")})
    assert words == ("; the app env gains SMTP_HOST, SECRET_SMTP_PASSWORD_VERSION and changes "
                     "SECRET_DB_PASSWORD_VERSION v1 -> v2, MODE")
    assert env_words({}, {}) == ""


def test_a_head_that_adds_a_secret_passes_and_says_so_on_the_console_results_and_summary(
        tmp_path: Path, overlays: Path, make_recipe: Callable[..., Path]) -> None:
    repo = make_recipe(tags=["1.0.0+1.0"], head_label="1.1.0+1.1")
    (repo / ".env.sample").write_text("TYPE=my-recipe\nDOMAIN=x.example.com\n"
                                      "SECRET_SMTP_PASSWORD_VERSION=v1 # length=48\n")
    (repo / "compose.yml").write_text(RECIPE_COMPOSE.format(label="1.1.0+1.1")
                                      + "    secrets: [smtp_password]\nsecrets:\n  smtp_password:\n"
                                      "    external: true\n    name: ${STACK_NAME}_smtp_password_${SECRET_SMTP_PASSWORD_VERSION}\n")
    git.git(repo, "commit", "-qam", "adds a secret")
    out = io.StringIO()
    config = RunConfig.from_env({"RECIPE": str(repo), "CCCI_RUNS_DIR": str(tmp_path / "runs"),
                                 "STAGES": "upgrade"}, LIFECYCLE)
    driver = FakeDriver()

    def factory(config: RunConfig, say: Callable[[str], None]) -> FakeDriver:
        driver.settings = config.driver_settings
        return driver
    run = Run(config, console=Console(file=out, width=400), driver_factory=factory, tests_dir=overlays,
              tier_runner=Tiers())
    result = run.execute()
    assert result.verdict == "pass"
    assert result.upgrade_notes[0] == SMTP  # secrets first (the fake's app env lacks TYPE: a note of its own)
    console = out.getvalue()
    (upgrading,) = [line for line in console.splitlines() if " in place: " in line]
    assert "(env: +" not in upgrading and "; the app env gains " in upgrading and "SECRET_SMTP_PASSWORD_VERSION" in upgrading
    assert console.count(f"before upgrading: {SMTP}") == 2  # as the upgrade performs, and in the summary
    assert json.loads(run.run_dir.results.read_text())["upgrade_notes"][0] == SMTP
    summary = run.run_dir.summary.read_text()
    assert "**before upgrading** (an operator's to-do; not a failure):" in summary and f"- {SMTP}" in summary


def test_the_summary_says_nothing_of_upgrade_notes_when_there_are_none() -> None:
    result = RunResult(run_id="r1", recipe="demo", ref=None, pr=None, stages=["install"], run_dir="/r")
    assert "before upgrading" not in summary_markdown(result)


def test_an_op_that_fails_keeps_its_timeline_row_and_is_named_the_first_cause(
        tmp_path: Path, overlays: Path, make_recipe: Callable[..., Path]) -> None:
    from runner.errors import ConvergenceError

    repo = make_recipe(tags=["1.0.0+1.0"], head_label="1.1.0+1.1")
    head = git.rev_parse(repo, "HEAD")[:8]
    config = RunConfig.from_env({"RECIPE": str(repo), "CCCI_RUNS_DIR": str(tmp_path / "runs"),
                                 "STAGES": "upgrade"}, LIFECYCLE)
    driver = FakeDriver(fail={f"upgrade {head}": ConvergenceError("service app did not converge")})

    def factory(config: RunConfig, say: Callable[[str], None]) -> FakeDriver:
        driver.settings = config.driver_settings
        return driver
    result = Run(config, console=Console(file=io.StringIO()), driver_factory=factory, tests_dir=overlays,
                 tier_runner=Tiers()).execute()
    assert result.error_op == "upgrade" and "upgrade" in result.op_timeline
    assert list(result.op_timeline) == ["install", "upgrade"]
