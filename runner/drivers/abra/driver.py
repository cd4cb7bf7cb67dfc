"""The abra driver: the app's lifecycle through the real `abra` CLI, reach through the target.

Each run has its own ABRA_DIR (`<run dir>/abra`): `recipes/<recipe>` is the run's own clone
(checked out at the ref before each call) and `servers/<server>/<domain>.env` the app env, written
from `App`'s before each deploy. abra deploys, redeploys and undeploys; waiting for convergence,
exec, HTTP, volumes, the target's own backup and removing what is left are the target's, as with
every driver. Where the server runs backup-bot-two, abra backs up and restores through it
(`backupbot.py`), and the target reads what it took and wrote back. See docs/abra.md for what is
known of abra's behaviour and how sure it is.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from runner.drivers.abra import backupbot
from runner.drivers.abra.cli import Abra, find_abra
from runner.drivers.base import Say, TargetReach
from runner.errors import BadInput, InfraError
from runner.plumbing import timing
from runner.plumbing.fileio import write_text_atomic
from runner.plumbing.scrub import scrubber
from runner.recipe import bounded, git, naming
from runner.recipe.envfile import compose_files, parse_env, secret_specs
from runner.recipe.versions import parse_version
from runner.run.app import App, Deployment
from runner.run.config import DriverSettings
from runner.run.opstate import RestoreRecord, Snapshot, Witness
from runner.swarm import backup as target_backup
from runner.swarm.progress import stack_timeout_s, wait_converged
from runner.swarm.stack import remove_stack, stack_services
from runner.targets.base import Target

SERVER = "default"  # abra's name for the server its docker environment reaches (the target's DOCKER_HOST)


class AbraDriver(TargetReach):
    name = "abra"

    def __init__(self, settings: DriverSettings, target: Target, say: Say = lambda message: None) -> None:
        self.settings = settings
        self.target = target
        self.say = say
        self._abra: dict[str, Abra] = {}  # stack -> abra for its run
        self._read_secrets: set[str] = set()  # secrets whose values the scrubber has
        # their values, by secret name, for a further app of the run (restore-fresh); memory only
        self._secret_values: dict[str, str] = {}

    # -- new app -------------------------------------------------------------------------

    def new_app(self, recipe: str, checkout: Path, run_id: str, run_dir: Path, ref: str, name: str = "") -> App:
        binary = find_abra()  # bad input (exit 2) before anything exists
        domain = naming.app_domain(recipe, run_id, self.settings.domain_base, name)
        sample = bounded.show_file(checkout, ref, ".env.sample")
        if sample is None:
            raise BadInput(f"{recipe} at {ref[:12]} has no .env.sample; a recipe needs one at every release")
        env = parse_env(sample, overrides={"DOMAIN": domain}, source=f"{ref[:12]}:.env.sample")
        app = App(recipe=recipe, run_id=run_id, domain=domain, stack=naming.stack_name(domain),
                  checkout=checkout, run_dir=run_dir, env={}, driver=self.name, name=name)
        app.set_env(env.values, secret_specs(env))
        files = app.run_files
        self._env_file(app).parent.mkdir(parents=True, exist_ok=True)
        link = files.abra_recipe(recipe)
        link.parent.mkdir(exist_ok=True)
        if not link.is_symlink():  # a further app of the run shares it
            link.symlink_to(checkout.resolve(), target_is_directory=True)
        self._abra[app.stack] = Abra(binary, files.abra_dir, self.target.host_env(), files.log("abra"))
        return app  # nothing on the swarm yet: `abra app new -S` creates the secrets, in deploy

    def share_secrets(self, source: App, app: App) -> list[str]:
        """`abra app new` without generating, then `abra app secret insert --file` of each secret
        of `source` (read where a service mounts it) under `app`, as an operator restoring onto a
        new app does; deploy generates the rest. The value passes through a 0600 file in a private
        temporary dir, removed at once, never the command line."""
        abra = self._abra[app.stack]
        self._new(app, abra, generate_secrets=False)
        shared = []
        with tempfile.TemporaryDirectory(prefix="ccci-secret-") as private:  # mkdtemp: mode 0700
            for spec in app.secrets:
                value = self._secret_values.get(naming.secret_name(source.stack, spec.name, spec.version))
                if value is None:  # no service of the source mounts it: nothing to read it from
                    continue
                path = Path(private) / "value"
                write_text_atomic(path, value, scrub=False)
                try:
                    abra("app", "secret", "insert", "--no-input", "--offline", "--file", app.domain, spec.name,
                         spec.version, str(path), prints_secrets=True)
                finally:
                    path.unlink()
                shared.append(f"{spec.name} {spec.version}")
        return shared

    def _new(self, app: App, abra: Abra, generate_secrets: bool) -> None:
        """`abra app new`: the app's env file (then written over with App's) and, when asked, its secrets."""
        with timing.waiting("docker"):
            abra("app", "new", app.recipe, "--no-input", "--offline", "--chaos", "--server", SERVER,
                 "--domain", app.domain, *(["--secrets"] if generate_secrets else []), prints_secrets=True)

    def _env_file(self, app: App) -> Path:
        return app.run_files.abra_app_env(SERVER, app.domain)

    # -- deploy and upgrade -----------------------------------------------------------------

    def deploy(self, app: App, ref: str) -> Deployment:
        return self._deploy(app, ref, upgrade=False)

    def upgrade(self, app: App, ref: str) -> Deployment:
        return self._deploy(app, ref, upgrade=True)  # `abra app deploy -f -C` at the head

    def _deploy(self, app: App, ref: str, upgrade: bool) -> Deployment:
        started = time.monotonic()
        abra = self._abra[app.stack]
        commit = git.rev_parse(app.checkout, ref)
        git.git(app.checkout, "checkout", "-q", "--force", "--detach", commit)
        git.git(app.checkout, "clean", "-q", "-fdx")  # abra would call leftovers unstaged changes
        release = next((t for t in git.tags_at(app.checkout, commit) if parse_version(t)), None)
        chaos = upgrade or release is None
        missing = [f for f in compose_files(app.env) if not (app.checkout / f).is_file()]
        if missing:
            raise InfraError(f"{ref}: COMPOSE_FILE names {', '.join(missing)}, not in the recipe at that ref")
        with timing.waiting("docker"):
            if not self._env_file(app).exists():  # the app's first deploy: abra creates it and its secrets
                self._new(app, abra, generate_secrets=True)
            self._write_env_file(app)
            self._generate_missing_secrets(app, abra)
            creates = not stack_services(app.stack, self.target.client)
            abra("app", "deploy", "--no-input", "--offline", "--no-domain-checks",
                 *([] if creates else ["--force"]), *(["--chaos"] if chaos else []),
                 app.domain, *([] if chaos else [str(release)]))
        app.deployments += 1
        if creates:  # counted from docker's side, as the swarm driver does
            app.deploy_count += 1
        labels = self.wait_converged(app)
        self._scrub_secret_values(app)
        version = labels.get(f"coop-cloud.{app.stack}.version", "unknown") if chaos else str(release)
        return Deployment(ref=ref, commit=commit, version=version, chaos=chaos, labels=labels,
                          duration_s=time.monotonic() - started,
                          timeout_s=stack_timeout_s(app.stack, stack_services(app.stack, self.target.client),
                                                    self.settings.deploy_timeout_s))

    def _write_env_file(self, app: App) -> None:
        """abra's app env file is App's app env, with the recipe line abra reads it by."""
        text = app.env_file.read_text()
        if "TYPE" not in app.env and "RECIPE" not in app.env:
            text = f"RECIPE={app.recipe}\n{text}"
        write_text_atomic(self._env_file(app), text)

    def _generate_missing_secrets(self, app: App, abra: Abra) -> None:
        """A secret version the app env names but the swarm lacks (EXTRA_ENV, an upgrade's bump)."""
        existing = {s.name for s in self.target.client.secrets.list(filters={"name": f"{app.stack}_"})}
        for spec in app.secrets:
            if naming.secret_name(app.stack, spec.name, spec.version) not in existing:
                abra("app", "secret", "generate", "--no-input", "--offline", app.domain, spec.name, spec.version,
                     prints_secrets=True)

    def _scrub_secret_values(self, app: App) -> None:
        """abra generated the secrets, so cc-ci never saw their values: read each one where a
        service mounts it and hand it to the scrubber before any tier can print it."""
        for service in stack_services(app.stack, self.target.client):
            mounted = service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"].get("Secrets") or []
            for secret in mounted:
                name, path = secret.get("SecretName", ""), (secret.get("File") or {}).get("Name", "")
                if not name.startswith(f"{app.stack}_") or not path or name in self._read_secrets:
                    continue
                path = path if path.startswith("/") else f"/run/secrets/{path}"
                read = self.target.exec_in(app, service.name.removeprefix(f"{app.stack}_"), ["cat", path],
                                           check=False, rerun_if_output_lost=True)
                if read.succeeded:
                    scrubber.add(read.stdout)
                    scrubber.add(read.stdout.strip())
                    self._read_secrets.add(name)
                    self._secret_values[name] = read.stdout

    def wait_converged(self, app: App) -> dict[str, str]:
        """abra waits too, but by its own rules: the run waits by cc-ci's (fail fast, the timeout label)."""
        with timing.waiting("docker"):
            return wait_converged(self.target.client, app.stack, default_timeout_s=self.settings.deploy_timeout_s,
                                  say=self.say, describe=lambda progress, reason: _failure(app, progress.service,
                                                                                          reason))

    # -- backup and restore: the server's backup-bot-two through abra, else the target's own ----

    def backup(self, app: App, witnesses: bool = True) -> Snapshot:
        if not backupbot.runs_backup_bot(self.target.client):
            return target_backup.backup(self.target, app, self.say, witnesses)
        self.say("backing up through the server's backup-bot-two: `abra app backup create`, then `download`")
        abra = self._abra[app.stack]
        return target_backup.backup(
            self.target, app, self.say, witnesses,
            take=lambda staging, plan, live: backupbot.take(abra, self.target.client, app, staging, plan, live))

    def restore(self, app: App, snapshot: Snapshot) -> RestoreRecord:
        if snapshot.bot_snapshot is None or app.name:
            # taken by the target, or restored onto a further app of the run (the bot restores a
            # snapshot only into the app it took it of): the target writes the run's copy back
            return target_backup.restore(self.target, app, self.say, snapshot, self.wait_converged)
        if not backupbot.runs_backup_bot(self.target.client):
            raise InfraError(f"backup-bot-two took snapshot {snapshot.bot_snapshot}, and the server runs no "
                             f"backup-bot-two now (no service labelled {backupbot.BOT_LABEL}=true)")
        self.say(f"restoring through the server's backup-bot-two: `abra app restore` of {snapshot.bot_snapshot}")
        abra = self._abra[app.stack]
        return target_backup.restore(self.target, app, self.say, snapshot, self.wait_converged,
                                     write_back=lambda: backupbot.write_back(abra, app, str(snapshot.bot_snapshot)))

    def remove_witnesses(self, app: App, witnesses: list[Witness]) -> None:
        target_backup.remove_app_witnesses(self.target.client, app, witnesses)

    # -- teardown ------------------------------------------------------------------------

    def teardown(self, app: App) -> list[str]:
        """`abra app undeploy`, then the target removes the volumes, secrets and whatever else is
        left (abra leaves volumes and secrets on purpose) and says what it could not."""
        with timing.waiting("docker"):
            abra = self._abra.get(app.stack)
            try:
                if abra and stack_services(app.stack, self.target.client):
                    abra("app", "undeploy", "--no-input", "--offline", app.domain)
            except Exception as err:  # noqa: BLE001 - the target's removal below still takes everything
                self.say(f"{err}; removing the stack through the target")
            return remove_stack(self.target.client, app.stack)


def _failure(app: App, service: str, reason: str) -> str:
    message = scrubber.scrub(f"service {service} {reason} (after abra app deploy)")
    write_text_atomic(app.run_files.convergence_log(service), message + "\n")
    return message
