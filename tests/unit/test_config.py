"""RunConfig: bad input is refused with the env var's name, before anything is created."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from runner.errors import BadInput
from runner.ops import LIFECYCLE
from runner.run.config import RunConfig


def _recipe_repo(path: Path) -> Path:
    path.mkdir()
    (path / "compose.yml").write_text("services: {}\n")
    (path / ".env.sample").write_text("TYPE=x\n")
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path


def _deep_cwd(root: Path) -> Path:
    cwd = root / "work" / "here"
    cwd.mkdir(parents=True)
    return cwd


def test_defaults_for_an_enrolled_name() -> None:
    config = RunConfig.from_env({"RECIPE": "custom-html-tiny"}, LIFECYCLE)
    # lint deploys nothing (docs/lint.md); the idempotence check costs under a second (docs/running.md)
    assert config.stages == ("lint", "install", "idempotent")
    assert config.ref is None and config.pr is None
    assert config.recipe_name == "custom-html-tiny" and not config.is_path


def test_a_path_to_a_recipe_repo_is_accepted_and_resolved(tmp_path: Path) -> None:
    repo = _recipe_repo(tmp_path / "my-recipe")
    config = RunConfig.from_env({"RECIPE": str(repo), "PR": "12", "REF": "abc123"}, LIFECYCLE)
    assert config.recipe == str(repo.resolve()) and config.recipe_name == "my-recipe"
    assert config.pr == 12


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "RECIPE is not set"),
        ({"RECIPE": "../../etc"}, "RECIPE: '../../etc' .* is not a recipe"),
        ({"RECIPE": "../../nonexistent"}, "RECIPE: '../../nonexistent' is neither"),
        ({"RECIPE": "/nonexistent/recipe"}, "RECIPE: '/nonexistent/recipe' is neither"),
        ({"RECIPE": "Bad Name"}, "RECIPE: 'Bad Name' is neither"),
        ({"RECIPE": "x", "STAGES": "install,deploy"}, "STAGES: unknown stage 'deploy'"),
        ({"RECIPE": "x", "PR": "seven"}, "PR: "),
        ({"RECIPE": "x", "PR": "0"}, "PR: "),
        ({"RECIPE": "x", "REF": "--upload-pack=evil"}, "REF: '--upload-pack=evil' is not a git ref"),
        ({"RECIPE": "x", "REF": "main..other"}, "REF: "),
        ({"RECIPE": "x", "REF": "a", "VERSION": "1.0.0+1"}, "not both"),
        ({"RECIPE": "x", "CCCI_RUN_ID": "Has Spaces"}, "CCCI_RUN_ID: "),
        ({"RECIPE": "x", "CCCI_RESOLVE_IMAGE": "sometimes"}, "CCCI_RESOLVE_IMAGE: "),
    ],
)
def test_bad_input_names_the_variable(
    env: dict[str, str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Relative paths resolve against the cwd: make `../../etc` an existing non-recipe directory
    # wherever the suite runs from.
    (tmp_path / "etc").mkdir()
    monkeypatch.chdir(_deep_cwd(tmp_path))
    with pytest.raises(BadInput, match=message) as caught:
        RunConfig.from_env(env, LIFECYCLE)
    assert caught.value.exit_code == 2
    assert "\n" not in str(caught.value)


def test_a_directory_that_is_not_a_git_repo_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "compose.yml").write_text("services: {}\n")
    (plain / ".env.sample").write_text("TYPE=x\n")
    with pytest.raises(BadInput, match="not a git repo"):
        RunConfig.from_env({"RECIPE": str(plain)}, LIFECYCLE)


def test_stages_are_put_in_lifecycle_order_once_each() -> None:
    assert RunConfig.from_env({"RECIPE": "x", "STAGES": " install , INSTALL"}, LIFECYCLE).stages == ("install",)


def test_restore_brings_in_backup_and_every_stage_brings_in_install() -> None:
    assert RunConfig.from_env({"RECIPE": "x", "STAGES": "restore"}, LIFECYCLE).stages == ("install", "backup", "restore")
    assert RunConfig.from_env({"RECIPE": "x", "STAGES": "custom,upgrade"}, LIFECYCLE).stages == ("install", "upgrade", "custom")


@pytest.mark.parametrize(
    ("env", "skipped"),
    [
        ({}, set()),
        ({"CCCI_SKIP_GENERIC": "1"}, set(LIFECYCLE.names)),  # every op
        ({"CCCI_SKIP_GENERIC": "0", "CCCI_SKIP_GENERIC_BACKUP": "1"}, {"backup"}),
        ({"CCCI_SKIP_GENERIC_INSTALL": "true", "CCCI_SKIP_GENERIC_RESTORE": "1"}, {"install", "restore"}),
    ],
)
def test_the_generic_opt_out_is_read_per_run_and_per_op(env: dict[str, str], skipped: set[str]) -> None:
    assert RunConfig.from_env({"RECIPE": "x", **env}, LIFECYCLE).skip_generic == skipped


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CCCI_SKIP_GENERIC": "maybe"}, "CCCI_SKIP_GENERIC: 'maybe' is not 1 or 0"),
        ({"CCCI_SKIP_GENERIC_BACKUP": "2"}, "CCCI_SKIP_GENERIC_BACKUP: '2' is not 1 or 0"),
        ({"CCCI_OVERLAY_DIR": "/nonexistent/overlays"}, "CCCI_OVERLAY_DIR: '/nonexistent/overlays' is not a directory"),
        ({"CCCI_DRIVER": "kubernetes"}, "CCCI_DRIVER: "),
        ({"CCCI_RECIPE_URL_TEMPLATE": "https://example.invalid/recipe.git"}, "CCCI_RECIPE_URL_TEMPLATE: .* no {name}"),
    ],
)
def test_bad_lifecycle_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(BadInput, match=message):
        RunConfig.from_env({"RECIPE": "x", **env}, LIFECYCLE)
