"""What every driver provides. Adding a driver means one new module implementing `Driver` and
one line in the registry (`runner/drivers/__init__.py`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import httpx

from runner.harness.app import App, Deployment
from runner.harness.envfile import SecretSpec
from runner.harness.opstate import AppIdentity, BackedUpFile, RestoreRecord, Snapshot, Witness
from runner.harness.proc import ExecResult
from runner.harness.runlock import Orphan

Say = Callable[[str], None]


class Driver(Protocol):
    name: str

    # -- ops -------------------------------------------------------------------------------

    def new_app(self, recipe: str, checkout: Path, run_id: str, run_dir: Path, ref: str) -> App:
        """Name the app and read its env from the .env.sample of `ref`, the ref it is first
        deployed at (the upgrade base, else the head). Touches nothing on the swarm, so a
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

    def backup(self, app: App, witnesses: bool = True) -> Snapshot:
        """Back the app up the way backup-bot-two does: hooks, volumes, a restic snapshot and
        its .tar.gz export in the run dir. With `witnesses`, first (before the pre-hooks) plant
        a witness file in every backed-up directory, and change each once the snapshot is taken.
        Raises `backupbot.NoSnapshot` when the recipe's labels leave nothing to take."""
        ...

    def restore(self, app: App, snapshot: Snapshot) -> RestoreRecord:
        """Write the snapshot back into the live volumes between the restore hooks, read every
        file written back at once (before the post-hooks and before the app is given time),
        then wait for convergence and note what the app changed by then."""
        ...

    def plant_witnesses(self, app: App) -> list[Witness]:
        """Plant one witness file in the root of every volume of the app, never through the
        app's containers."""
        ...

    def remove_witnesses(self, app: App, witnesses: list[Witness]) -> None:
        """Delete the witness files (at teardown's start)."""
        ...

    def file_digests(self, app: App, files: list[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        """The sha256 of each (volume, path) now, None where there is no such file; reads only."""
        ...

    def volume_files(self, app: App) -> dict[str, list[BackedUpFile]]:
        """Every regular file of every volume of the app (by the volume's name in the recipe),
        with size and sha256, read without changing anything: what the restore compares the
        snapshot with once the app has converged (the app's changes, for its note)."""
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

    def http_client(self, app: App, service: str | None = None, port: int | None = None) -> httpx.Client:
        """A client that reaches the app as its proxy would (`Host: <domain>`): a container of
        `service` on `port`, by default where the proxy sends the app's domain. Raises
        InfraError when the service has no running container to reach."""
        ...

    def unconverged(self, app: App) -> list[str]:
        """One line per service that has not converged; empty when all have."""
        ...

    def service_labels(self, app: App) -> dict[str, dict[str, str]]:
        """Deploy labels of every service of the app, by service name (without the stack prefix)."""
        ...

    def deployed_identity(self, app: App) -> AppIdentity:
        """The app as the swarm knows it now: its stack, each service's id and spec version, each
        volume's name and creation time. Read without changing anything."""
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
