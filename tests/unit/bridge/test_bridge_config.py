"""The bridge config file: validation, secret references, errors that say what to fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runner.bridge.config import DroneExecutorConfig, LocalExecutorConfig, load_config
from runner.bridge.service import load_secrets
from runner.errors import BadInput
from runner.ops import LIFECYCLE

MINIMAL = """
forge:
  url: https://git.coopcloud.tech/
  token: {env: CCCI_TEST_FORGE_TOKEN}
webhook:
  secret: {file: SECRET_FILE}
repos:
  Coop-Cloud/Custom-HTML: custom-html
"""


@pytest.fixture
def cfg_file(tmp_path: Path) -> Path:
    secret = tmp_path / "webhook-secret"
    secret.write_text("hook-secret-value\n")
    path = tmp_path / "bridge.yml"
    path.write_text(MINIMAL.replace("SECRET_FILE", str(secret)))
    return path


def test_minimal_config_gets_documented_defaults(cfg_file: Path) -> None:
    cfg = load_config(cfg_file)
    assert cfg.forge.url == "https://git.coopcloud.tech"
    assert (
        cfg.recipe_for("coop-cloud/custom-html") == "custom-html"
    )  # forge names are case-insensitive
    assert isinstance(cfg.executor, LocalExecutorConfig) and cfg.executor.capacity == 1
    assert cfg.poll.interval_seconds == 0
    assert cfg.default_stages == LIFECYCLE.default_stages  # what a hand run runs (STAGES unset)
    assert cfg.stages == LIFECYCLE.names
    assert cfg.webhook.max_body_bytes == 256 * 1024


@pytest.mark.parametrize(
    ("extra", "stages", "default_stages"),
    [
        # narrowed `stages`: a bare `!testme` runs the lifecycle's default within them
        ("stages: [install, upgrade]\n", ("install", "upgrade"), ("install",)),
        ("stages: [idempotent, install]\n", ("idempotent", "install"), ("install", "idempotent")),
        # the operator's own default wins
        ("default_stages: [install, upgrade]\n", LIFECYCLE.names, ("install", "upgrade")),
        (
            "stages: [lint, install, idempotent, backup, restore-fresh]\ndefault_stages: [restore-fresh]\n",
            ("lint", "install", "idempotent", "backup", "restore-fresh"),
            ("install", "backup", "restore-fresh"),  # what it needs comes with it
        ),
    ],
)
def test_a_bare_testme_runs_the_lifecycle_default_within_stages_unless_the_operator_sets_it(
    cfg_file: Path, extra: str, stages: tuple[str, ...], default_stages: tuple[str, ...]
) -> None:
    cfg_file.write_text(cfg_file.read_text() + extra)
    cfg = load_config(cfg_file)
    assert (cfg.stages, cfg.default_stages) == (stages, default_stages)


def test_secrets_come_from_env_and_file_and_never_show_in_repr(
    cfg_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CCCI_TEST_FORGE_TOKEN", "tok-abc")
    secrets = load_secrets(load_config(cfg_file))
    assert secrets.forge_token.get_secret_value() == "tok-abc"
    assert secrets.webhook_secret.get_secret_value() == "hook-secret-value"
    assert "tok-abc" not in repr(secrets) and "hook-secret-value" not in repr(secrets)


def test_unset_secret_env_is_bad_input_naming_the_variable(
    cfg_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CCCI_TEST_FORGE_TOKEN", raising=False)
    with pytest.raises(BadInput, match="forge.token: env var CCCI_TEST_FORGE_TOKEN is not set"):
        load_secrets(load_config(cfg_file))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("https://git.coopcloud.tech/", "git.coopcloud.tech"), "forge.url"),
        (lambda t: t.replace("Coop-Cloud/Custom-HTML", "no-slash"), "repos"),
        (lambda t: t + "executor: {kind: jenkins}\n", "executor"),
        (lambda t: t + "executor: {kind: local, capacity: 0}\n", "executor.local.capacity"),
        (lambda t: t + "default_stages: [deploy]\n", "default_stages"),
        (lambda t: t + "stages: [install]\ndefault_stages: [backup]\n", "default_stages: 'backup' is not in `stages`"),
        (lambda t: t + "stages: []\n", "stages"),
        (lambda t: t + "stages: [upgrade]\n", "stages: 'upgrade' needs 'install'; add it"),
        (lambda t: t + "stages: [install, restore]\n", "stages: 'restore' needs 'backup'; add it"),
        (lambda t: t + "surprise: 1\n", "surprise"),
        (lambda t: t.replace("{env: CCCI_TEST_FORGE_TOKEN}", "plain-text-token"), "forge.token"),
        (lambda t: t.replace("{env: CCCI_TEST_FORGE_TOKEN}", "{env: A, file: /b}"), "forge.token"),
        (lambda t: "forge: [unclosed", "not valid YAML"),
    ],
)
def test_invalid_config_is_bad_input_naming_the_field(
    cfg_file: Path, edit: Callable[[str], str], message: str
) -> None:
    cfg_file.write_text(edit(cfg_file.read_text()))
    with pytest.raises(BadInput, match="bridge config") as err:
        load_config(cfg_file)
    assert message in str(err.value)
    assert err.value.exit_code == 2


def test_missing_config_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="cannot read"):
        load_config(tmp_path / "nope.yml")


def test_drone_executor_config(cfg_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg_file.write_text(
        cfg_file.read_text()
        + "executor:\n  kind: drone\n  url: https://drone.example.org\n  token: {env: CCCI_TEST_DRONE}\n  repo: coop-cloud/cc-ci\n"
    )
    monkeypatch.setenv("CCCI_TEST_FORGE_TOKEN", "t")
    monkeypatch.setenv("CCCI_TEST_DRONE", "drone-tok")
    cfg = load_config(cfg_file)
    assert isinstance(cfg.executor, DroneExecutorConfig)
    assert (cfg.executor.branch, cfg.executor.capacity) == ("main", 4)
    token = load_secrets(cfg).drone_token
    assert token is not None and token.get_secret_value() == "drone-tok"


@pytest.mark.parametrize("repo", ["cc-ci", "coop-cloud/cc-ci/x", "/cc-ci"])
def test_a_drone_repo_that_is_not_owner_slash_name_is_refused_at_load(
    cfg_file: Path, repo: str
) -> None:
    cfg_file.write_text(
        cfg_file.read_text()
        + f"executor:\n  kind: drone\n  url: https://drone.example.org\n  token: {{env: CCCI_TEST_DRONE}}\n  repo: {repo}\n"
    )
    with pytest.raises(BadInput, match="bridge config") as err:
        load_config(cfg_file)
    assert f"repo {repo!r} must be owner/name" in str(err.value) and err.value.exit_code == 2
