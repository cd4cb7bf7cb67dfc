"""The app and its deployments: what every driver, op, hook and fixture talks about."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from runner.plumbing.fileio import write_text_atomic
from runner.recipe import naming
from runner.recipe.envfile import SecretSpec, reread_app_env
from runner.run.rundir import RunDir


@dataclass
class App:
    """One deployed instance of a recipe, scoped to one run."""

    recipe: str
    run_id: str
    domain: str
    stack: str
    checkout: Path  # the run's own clone of the recipe; deploys check out refs here
    run_dir: Path
    env: dict[str, str]  # the app env file's values (secret versions, never secret values)
    driver: str = "swarm"
    secrets: list[SecretSpec] = field(default_factory=list)
    deploy_count: int = 0  # deploys that created the app's stack (it had no service before): from docker's side
    deployments: int = 0  # every deploy, first one and in-place redeploys alike
    name: str = ""  # "" for the run's app; a further app of the run by its name (restore-fresh's `fresh`)

    @property
    def run_files(self) -> RunDir:
        """The run's own files, shared by all its apps: its lock, restic repository, ABRA_DIR,
        install_steps and browser test logs."""
        return RunDir(self.run_dir)

    @property
    def files(self) -> RunDir:
        """Where this app's own files go (app env, deploy overrides, deploy logs): the run dir for
        the run's app, `<run dir>/apps/<name>/` for a further one. The run's lock, restic
        repository and labels stay the run dir's (`run_files`)."""
        return self.run_files.of_app(self.name)

    # -- the app env: `env` and `secrets` here, and the app env file, change only together ----

    @property
    def env_file(self) -> Path:
        """The app env file: what install_steps.sh gets as APP_ENV_FILE and may edit."""
        return self.files.app_env

    def set_env(self, env: dict[str, str], secrets: list[SecretSpec]) -> None:
        """A new app env (the first, or an upgrade's merge): its secret names are checked before
        anything is created, then it is written to the app env file."""
        for spec in secrets:
            naming.secret_name(self.stack, spec.name, spec.version)
        self.env, self.secrets = dict(env), list(secrets)
        # not scrubbed: it is the deploy's input, never served by a page (runview); a value the
        # scrubber knows (a dependency's client secret from DEPS_ENV) must reach the app as it is
        write_text_atomic(self.env_file, "".join(f"{k}={_quote(v)}\n" for k, v in self.env.items()), scrub=False)

    def reload_env(self) -> None:
        """Re-read the app env file after something edited it (EXTRA_ENV, install_steps.sh)."""
        self.env, self.secrets = reread_app_env(self.env_file.read_text(), self.secrets, RunDir.APP_ENV)

    def describe(self) -> dict[str, Any]:
        """What assertion files may know about the app (written to app.json)."""
        return {
            "recipe": self.recipe,
            "run_id": self.run_id,
            "domain": self.domain,
            "stack": self.stack,
            "driver": self.driver,
            "env": self.env,
            "secrets": [asdict(s) for s in self.secrets],
            "deploy_count": self.deploy_count,
            "deployments": self.deployments,
            "name": self.name,
            "run_dir": str(self.run_dir),
            "checkout": str(self.checkout),
        }

    @classmethod
    def from_description(cls, data: dict[str, Any]) -> App:
        """The app as app.json describes it (what the assertion fixtures are handed)."""
        return cls(recipe=data["recipe"], run_id=data["run_id"], domain=data["domain"], stack=data["stack"],
                   checkout=Path(data["checkout"]), run_dir=Path(data["run_dir"]), env=data["env"],
                   driver=data["driver"], secrets=[SecretSpec(**s) for s in data["secrets"]],
                   deploy_count=data["deploy_count"], deployments=data["deployments"], name=data.get("name", ""))


def _quote(value: str) -> str:
    """Double-quoted with escapes unless plain, so that the app env parses back as written."""
    if value and all(c.isalnum() or c in "._-/:@+,=" for c in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


class Deployment(BaseModel):
    """One `stack deploy` that converged."""

    model_config = ConfigDict(frozen=True)

    ref: str
    commit: str
    version: str  # the release tag deployed, or the compose version label for a chaos deploy
    chaos: bool  # True when deployed as abra's `--chaos` (not a release tag, or an upgrade to a head)
    labels: dict[str, str]  # the deployed app service's labels
    duration_s: float
    timeout_s: float | None = None  # the deadline it was given to converge (the serving probe's too)
    overrides: list[str] = Field(default_factory=list)  # what the driver changed at deploy time, and why
