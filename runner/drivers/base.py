"""What every driver provides: the app's lifecycle on a target. Adding a driver means one new
module implementing `Driver` and one line in the registry (`runner/run/registry.py`).

A driver is constructed as `Driver(settings, target, say)` and keeps `target`: reach (exec, HTTP,
volume access, host commands, the docker client, and what the swarm says of the app: its labels,
convergence, identity, the files of its volumes) is the target's, never the driver's, so that
ops, hooks, fixtures and gc reach the app the same way whichever driver deployed it. The app env is
`App`'s (`set_env`, `reload_env`, `env_file`); the run dir's files are `RunDir`'s. Every swarm
object a driver makes carries `run_labels(...)` (`runner/swarm/stack.py`): gc finds runs by them.
See docs/running.md, "Writing a driver"."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from runner.run.app import App, Deployment
from runner.run.opstate import AppIdentity, BackedUpFile, RestoreRecord, Snapshot, Witness
from runner.targets.base import Target

Say = Callable[[str], None]


class Driver(Protocol):
    name: str
    target: Target  # where the app is, and how it is reached

    # -- ops -------------------------------------------------------------------------------

    def new_app(self, recipe: str, checkout: Path, run_id: str, run_dir: Path, ref: str, name: str = "") -> App:
        """Name the app and read its env from the .env.sample of `ref`, the ref it is first
        deployed at (the upgrade base, else the head), writing it with `App.set_env`. Touches
        nothing on the swarm, so a failure here leaves nothing to tear down. `name`: a further
        app of the run (restore-fresh's `fresh`): a domain of its own, its files in `App.files`,
        the run's labels on everything it makes."""
        ...

    def share_secrets(self, source: App, app: App) -> list[str]:
        """Before `app`'s first deploy: its secrets are to have the values of `source`'s of the
        same name and version (an operator restoring a backup onto a new app inserts them).
        Returns `<name> <version>` of each one shared."""
        ...

    def deploy(self, app: App, ref: str) -> Deployment:
        """Create the app with its current env: its secrets, then deploy `ref` (checked out in
        the app's clone) and wait until it has converged. Called once per run to create the app;
        an upgrade chain's middle hops call it again on the live app: an in-place deploy of that
        release (as `abra app upgrade <version>`), the stack kept (`deploy_count` unchanged)."""
        ...

    def upgrade(self, app: App, ref: str) -> Deployment:
        """Redeploy the same app in place at `ref` as a chaos deploy with its current env (the
        upgrade op has set the merged one; a new secret version is generated), and wait until
        it has converged."""
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

    def remove_witnesses(self, app: App, witnesses: list[Witness]) -> None:
        """Delete the witness files (at teardown's start), where the driver's teardown keeps the
        volumes; a driver whose teardown removes them (and checks it) has nothing to do."""
        ...

    def teardown(self, app: App) -> list[str]:
        """Remove everything of the app; return what is still there afterwards (empty = clean)."""
        ...


class TargetReach:
    """The driver's reach before it was the target's (issue 22): assertion files, hooks and
    repo-local overlays written against `driver.service_labels(app)` and the like keep working.
    Each is the target's own; new code calls `target.<method>` (the `target` fixture, `ctx.target`)."""

    target: Target

    def unconverged(self, app: App) -> list[str]:
        return self.target.unconverged(app)

    def service_labels(self, app: App) -> dict[str, dict[str, str]]:
        return self.target.service_labels(app)

    def deployed_identity(self, app: App) -> AppIdentity:
        return self.target.deployed_identity(app)

    def backup_unsupported(self, app: App) -> str | None:
        return self.target.backup_unsupported(app)

    def volume_files(self, app: App) -> dict[str, list[BackedUpFile]]:
        return self.target.volume_files(app)

    def plant_witnesses(self, app: App) -> list[Witness]:
        return self.target.plant_witnesses(app)

    def file_digests(self, app: App, files: list[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        return self.target.file_digests(app, files)
