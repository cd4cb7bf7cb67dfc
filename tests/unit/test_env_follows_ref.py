"""The app env comes from the .env.sample of the ref being deployed (issue 11, point 9): the
head's for a plain install, the base's for the install of an upgrade run, then the head's merged
in by the upgrade. Never the recipe clone's default branch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from runner.drivers.swarm.driver import SwarmDriver
from runner.ops import LIFECYCLE
from runner.orchestrator import Run
from runner.recipe import git
from runner.record.results import RunResult
from runner.run.app import App, Deployment
from runner.run.config import DriverSettings, RunConfig
from runner.tiers.tier import TierResult
from tests.unit.conftest import RECIPE_COMPOSE
from tests.unit.fake_driver import FakeTarget

_BASE_ENV = "TYPE=my-recipe\nDOMAIN=x.example.com\nSECRET_DB_PASSWORD_VERSION=v1\n"
_HEAD_ENV = _BASE_ENV + "SECRET_INSTANCE_TOKEN_VERSION=v1 # length=40\n"


def _commit(repo: Path, env: str, label: str, message: str) -> str:
    (repo / ".env.sample").write_text(env)
    (repo / "compose.yml").write_text(RECIPE_COMPOSE.format(label=label))
    git.git(repo, "add", "-A")
    git.git(repo, "commit", "-q", "-m", message)
    return git.rev_parse(repo, "HEAD")


def _recipe(tmp_path: Path, head_on_branch: str | None) -> tuple[Path, str]:
    """Release 1.0.0+1.0, then a head that adds SECRET_INSTANCE_TOKEN_VERSION: on `main`, or on
    its own branch (a PR) with `main` left at the release."""
    repo = tmp_path / "my-recipe"
    repo.mkdir()
    git.git(repo, "init", "-q", "-b", "main")
    _commit(repo, _BASE_ENV, "1.0.0+1.0", "release 1.0.0+1.0")
    git.git(repo, "tag", "1.0.0+1.0")
    if head_on_branch:
        git.git(repo, "checkout", "-q", "-b", head_on_branch)
    head = _commit(repo, _HEAD_ENV, "1.1.0+1.1", "feat: an instance token")
    git.git(repo, "checkout", "-q", "main")  # what a clone checks out: the default branch
    return repo, head


class RecordingSwarmDriver(SwarmDriver):
    """The swarm driver's own new_app, deploy and upgrade; only the docker part is stubbed."""

    def __init__(self, settings: DriverSettings, say: Callable[[str], None]) -> None:
        super().__init__(settings, FakeTarget(), say)  # type: ignore[arg-type]
        self.deployed: list[tuple[str, dict[str, str], list[str]]] = []

    def _deploy(self, app: App, ref: str, force_chaos: bool) -> Deployment:
        self.deployed.append((ref, dict(app.env), sorted(s.name for s in app.secrets)))
        return Deployment(ref=ref, commit=git.rev_parse(app.checkout, ref), version="x", chaos=force_chaos,
                          labels={}, duration_s=0.0)

    def teardown(self, app: App) -> list[str]:
        return []


def _run(tmp_path: Path, repo: Path, **env: str) -> tuple[RunResult, RecordingSwarmDriver]:
    drivers: list[RecordingSwarmDriver] = []

    def factory(config: RunConfig, say: Callable[[str], None]) -> RecordingSwarmDriver:
        drivers.append(RecordingSwarmDriver(config.driver_settings, say))
        return drivers[0]
    tests = tmp_path / "tests"
    (tests / "_generic").mkdir(parents=True)
    config = RunConfig.from_env({"RECIPE": str(repo), "CCCI_RUNS_DIR": str(tmp_path / "runs"), **env}, LIFECYCLE)
    run = Run(config, console=Console(file=open("/dev/null", "w")), driver_factory=factory, tests_dir=tests,
              tier_runner=lambda op, files, run_dir, env: TierResult(op, "pass"))
    return run.execute(), drivers[0]


def test_a_pr_head_that_adds_a_secret_is_installed_with_it(tmp_path: Path) -> None:
    repo, head = _recipe(tmp_path, head_on_branch="pr")
    result, driver = _run(tmp_path, repo, REF="pr", STAGES="install")
    assert result.error is None
    [(ref, env, secrets)] = driver.deployed
    assert ref == head
    assert secrets == ["db_password", "instance_token"]
    assert env["SECRET_INSTANCE_TOKEN_VERSION"] == "v1"
    assert "SECRET_INSTANCE_TOKEN_VERSION=v1" in (Path(result.run_dir) / "app.env").read_text()


def test_an_upgrade_run_installs_the_base_with_the_bases_env_then_merges_the_heads(tmp_path: Path) -> None:
    repo, head = _recipe(tmp_path, head_on_branch=None)  # main is the head: today's clone reads its env
    result, driver = _run(tmp_path, repo, STAGES="install,upgrade")
    assert result.error is None and result.base == "1.0.0+1.0"
    [(install_ref, install_env, install_secrets), (upgrade_ref, upgrade_env, upgrade_secrets)] = driver.deployed
    assert install_ref == "1.0.0+1.0"
    assert install_secrets == ["db_password"]
    assert "SECRET_INSTANCE_TOKEN_VERSION" not in install_env
    assert upgrade_ref == head
    assert upgrade_secrets == ["db_password", "instance_token"]  # the upgrade adds the head's new key


def test_new_app_reads_the_named_refs_env_sample_not_the_checked_out_one(tmp_path: Path) -> None:
    repo, head = _recipe(tmp_path, head_on_branch="pr")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    driver = SwarmDriver(DriverSettings(domain_base="hd.test"), FakeTarget())  # type: ignore[arg-type]
    app = driver.new_app("my-recipe", repo, "run-1", run_dir, ref=head)
    assert [(s.name, s.version, s.length) for s in app.secrets] == [("db_password", "v1", 32),
                                                                     ("instance_token", "v1", 40)]
    assert app.env["DOMAIN"] == app.domain  # the run's domain still replaces the sample's
    base_app = driver.new_app("my-recipe", repo, "run-2", run_dir, ref="1.0.0+1.0")
    assert [s.name for s in base_app.secrets] == ["db_password"]
