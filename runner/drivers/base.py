"""What every driver provides. Adding a driver means one new module implementing `Driver` and
one line in the registry (`runner/drivers/__init__.py`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import httpx

from runner.harness.app import App, Deployment
from runner.harness.envfile import SecretSpec
from runner.harness.opstate import BackedUpFile, RestoreRecord, Snapshot
from runner.harness.proc import ExecResult
from runner.harness.runlock import Orphan

Say = Callable[[str], None]


class Driver(Protocol):
    name: str

    # -- ops -------------------------------------------------------------------------------

    def new_app(self, recipe: str, checkout: Path, run_id: str, run_dir: Path) -> App:
        """Name the app and read its env from .env.sample. Touches nothing on the swarm, so a
        failure here leaves nothing to tear down."""
        ...

    def env_file(self, app: App) -> Path:
        """Where the app env file is (what install_steps.sh gets as APP_ENV_FILE)."""
        ...

    def reload_env(self, app: App) -> None:
        """Re-read the app env file into `app.env` and `app.secrets`: something edited it before
        the first deploy (EXTRA_ENV, install_steps.sh)."""
        ...

    def deploy(self, app: App, ref: str) -> Deployment:
        """Create the app: its secrets, then deploy `ref` (checked out in the app's clone) and
        wait until it has converged. Called once per run."""
        ...

    def upgrade(self, app: App, ref: str, env: dict[str, str], secrets: list[SecretSpec]) -> Deployment:
        """Redeploy the same app in place at `ref` as a chaos deploy, with `env` as its new app
        env and `secrets` its secrets (a new version is generated), and wait until it has
        converged."""
        ...

    def backup_unsupported(self, app: App) -> str | None:
        """Why the deployed app cannot be backed up (no `backupbot.backup=true`), else None."""
        ...

    def backup(self, app: App) -> Snapshot:
        """Back the app up the way backup-bot-two does: hooks, volumes, a restic snapshot and
        its .tar.gz export in the run dir."""
        ...

    def restore(self, app: App, snapshot: Snapshot) -> RestoreRecord:
        """Write the snapshot back into the live volumes between the restore hooks, then wait
        for convergence."""
        ...

    def volume_files(self, app: App) -> dict[str, list[BackedUpFile]]:
        """Every regular file of every volume of the app (by the volume's name in the recipe),
        with size and sha256, read without changing anything: what the assertion files compare
        a snapshot against."""
        ...

    def teardown(self, app: App) -> list[str]:
        """Remove everything of the app; return what is still there afterwards (empty = clean)."""
        ...

    # -- reach, for hooks and assertion fixtures ---------------------------------------------

    def exec_in(self, app: App, service: str, cmd: list[str] | str, *, check: bool = True,
                rerun_if_output_lost: bool = False) -> ExecResult:
        """Run `cmd` in the service's running container; retried while it cycles, raises
        ExecError on a non-zero exit unless `check=False`. Output the engine lost raises
        OutputLost, unless the command only reads (`rerun_if_output_lost`): then it runs again."""
        ...

    def http_client(self, app: App) -> httpx.Client:
        """A client that reaches the app as its proxy would (`Host: <domain>`)."""
        ...

    def unconverged(self, app: App) -> list[str]:
        """One line per service that has not converged; empty when all have."""
        ...

    def service_labels(self, app: App) -> dict[str, dict[str, str]]:
        """Deploy labels of every service of the app, by service name (without the stack prefix)."""
        ...

    # -- gc --------------------------------------------------------------------------------

    def find_orphans(self, runs_dir: Path) -> list[Orphan]:
        """Apps whose run is no longer alive."""
        ...

    def reclaim(self, orphan: Orphan) -> list[str]:
        """Remove an orphaned app; return what is still there afterwards."""
        ...

    def run_ids_present(self) -> set[str]:
        """Run ids that still have objects where this driver deploys."""
        ...
