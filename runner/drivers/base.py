"""What every driver provides. Adding a driver means one new module implementing `Driver`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

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
    secrets: list[SecretSpec] = field(default_factory=list)
    deploy_count: int = 0

    def describe(self) -> dict[str, Any]:
        """What assertion files may know about the app (written to app.json)."""
        return {
            "recipe": self.recipe,
            "run_id": self.run_id,
            "domain": self.domain,
            "stack": self.stack,
            "env": self.env,
            "secrets": [asdict(s) for s in self.secrets],
            "deploy_count": self.deploy_count,
        }


@dataclass(frozen=True)
class Deployment:
    ref: str
    commit: str
    version: str  # the release tag deployed, or the compose version label for a chaos deploy
    chaos: bool  # True when the ref is not a release tag (abra's `--chaos`)
    labels: dict[str, str]  # the deployed app service's labels
    duration_s: float


class Driver(Protocol):
    name: str

    def new_app(self, recipe: str, checkout: Path, run_id: str, run_dir: Path) -> App:
        """Name the app and read its env from .env.sample. Touches nothing on the swarm, so a
        failure here leaves nothing to tear down."""
        ...

    def deploy(self, app: App, ref: str) -> Deployment:
        """Create missing secrets, check out `ref` in the app's clone, deploy it and wait until
        it has converged."""
        ...

    def teardown(self, app: App) -> list[str]:
        """Remove everything of the app; return what is still there afterwards (empty = clean)."""
        ...
