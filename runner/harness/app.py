"""The app and its deployments: what every driver, op, hook and fixture talks about."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from runner.harness.envfile import SecretSpec


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
            "run_dir": str(self.run_dir),
            "checkout": str(self.checkout),
        }

    @classmethod
    def from_description(cls, data: dict[str, Any]) -> App:
        """The app as app.json describes it (what the assertion fixtures are handed)."""
        return cls(recipe=data["recipe"], run_id=data["run_id"], domain=data["domain"], stack=data["stack"],
                   checkout=Path(data["checkout"]), run_dir=Path(data["run_dir"]), env=data["env"],
                   driver=data["driver"], secrets=[SecretSpec(**s) for s in data["secrets"]],
                   deploy_count=data["deploy_count"], deployments=data["deployments"])


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
