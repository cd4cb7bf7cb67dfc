"""The built-in driver: plain `docker stack deploy` on the target's swarm, abra's conventions."""

from __future__ import annotations

import functools
import secrets as pysecrets
import string
import time
from pathlib import Path
from typing import Any

import docker
import yaml
from docker.errors import DockerException

from runner.drivers.base import Say, TargetReach
from runner.drivers.swarm import substrate
from runner.drivers.swarm.endpoints import EndpointPlan, host_diagnosis, plan_endpoints, preflight
from runner.errors import BadInput, InfraError
from runner.plumbing import timing
from runner.plumbing.fileio import write_text_atomic
from runner.plumbing.scrub import scrubber
from runner.recipe import bounded, git, naming
from runner.recipe.compose import check_host_files, interpolation_env
from runner.recipe.envfile import compose_files, parse_env, secret_specs
from runner.recipe.versions import parse_version
from runner.run.app import App, Deployment
from runner.run.config import DriverSettings
from runner.run.opstate import RestoreRecord, Snapshot, Witness
from runner.swarm import backup as target_backup
from runner.swarm.convergence import Progress, task_errors
from runner.swarm.progress import stack_timeout_s, wait_converged
from runner.swarm.stack import (
    OWNER_STACK_LABEL,
    remove_stack,
    run_labels,
    stack_services,
    unless_gone,
)
from runner.targets.base import Target

_SECRET_ALPHABET = string.ascii_letters + string.digits


class SwarmDriver(TargetReach):
    name = "swarm"

    def __init__(self, settings: DriverSettings, target: Target, say: Say = lambda message: None) -> None:
        self.settings = settings
        self.target = target
        # bundled recipes use locally built images that no registry has
        self.resolve_image = ("never" if self.settings.bundled_recipe else "always") \
            if self.settings.resolve_image == "auto" else self.settings.resolve_image
        self.say = say  # progress for long waits
        self._endpoints: dict[str, EndpointPlan | None] = {}  # stack -> its latest deploy's plan
        # secret values this driver made, by swarm name: only in memory (the scrubber has each),
        # for a further app of the run that gets the same values (share_secrets)
        self._secret_values: dict[str, str] = {}

    @functools.cached_property
    def service_vips(self) -> substrate.ServiceVips:
        """Whether swarm's service VIPs answer on the node (checked once per run, under a ms locally)."""
        if self.target.name == "local":
            return substrate.service_vips()
        probe = self.target.run_on_node(["test", "-e", str(substrate.IPVS_PROC)])
        where = f"{substrate.IPVS_PROC} on {self.target.address}"
        return substrate.ServiceVips(probe.succeeded, f"the node's kernel {'has' if probe.succeeded else 'has no'} "
                                     f"IPVS ({where})")

    @property
    def client(self) -> docker.DockerClient:
        return self.target.client

    # -- new app -------------------------------------------------------------------------

    def new_app(self, recipe: str, checkout: Path, run_id: str, run_dir: Path, ref: str, name: str = "") -> App:
        domain = naming.app_domain(recipe, run_id, self.settings.domain_base, name)
        stack = naming.stack_name(domain)
        # the ref's own file, not the clone's default branch: a head may add a secret, a base lack one
        sample = bounded.show_file(checkout, ref, ".env.sample")
        if sample is None:
            raise BadInput(f"{recipe} at {ref[:12]} has no .env.sample; a recipe needs one at every release")
        env = parse_env(sample, overrides={"DOMAIN": domain}, source=f"{ref[:12]}:.env.sample")
        app = App(recipe=recipe, run_id=run_id, domain=domain, stack=stack, checkout=checkout,
                  run_dir=run_dir, env={}, driver=self.name, name=name)
        app.set_env(env.values, secret_specs(env))  # fails on bad secret names before creating any
        if line := preflight(self.settings.dnsrr, self.service_vips):  # the run's check of the host
            self.say(line)
        return app  # nothing on the swarm yet: secrets are created by deploy, inside the app's lifetime

    def _create_secrets(self, app: App) -> None:
        existing = {s.name for s in self.client.secrets.list(filters={"label": f"{OWNER_STACK_LABEL}={app.stack}"})}
        for spec in app.secrets:
            name = naming.secret_name(app.stack, spec.name, spec.version)
            if name in existing:
                continue
            value = self._secret_values.get(name) or "".join(
                pysecrets.choice(_SECRET_ALPHABET) for _ in range(spec.length))
            scrubber.add(value)  # before it can reach any output
            self._secret_values[name] = value
            self.client.secrets.create(name=name, data=value.encode(),
                                       labels={OWNER_STACK_LABEL: app.stack} | self._run_labels(app))

    def share_secrets(self, source: App, app: App) -> list[str]:
        """`app`'s secrets, created by its first deploy, get the values of `source`'s secrets of
        the same name and version: what an operator restoring a backup onto a new app inserts."""
        shared = []
        for spec in app.secrets:
            theirs = self._secret_values.get(naming.secret_name(source.stack, spec.name, spec.version))
            if theirs is not None:
                self._secret_values[naming.secret_name(app.stack, spec.name, spec.version)] = theirs
                shared.append(f"{spec.name} {spec.version}")
        return shared

    # -- deploy and upgrade -----------------------------------------------------------------

    def deploy(self, app: App, ref: str) -> Deployment:
        return self._deploy(app, ref, force_chaos=False)

    def upgrade(self, app: App, ref: str) -> Deployment:
        return self._deploy(app, ref, force_chaos=True)  # abra's `upgrade --chaos` to a PR head

    def _run_labels(self, app: App) -> dict[str, str]:
        return run_labels(app.run_id, str(app.run_dir.resolve()), self.target.host_id)

    def _deploy(self, app: App, ref: str, force_chaos: bool) -> Deployment:
        started = time.monotonic()
        with timing.waiting("docker"):
            self._create_secrets(app)
        commit, release, chaos, files, endpoints = self._compose_chain(app, ref, force_chaos)
        creates = not stack_services(app.stack, self.client)
        self._stack_deploy(app, files)
        if creates:  # counted from docker's side: a redeploy that found the stack gone would show
            app.deploy_count += 1
        labels = self._wait_converged(app)
        version = labels.get(f"coop-cloud.{app.stack}.version", "unknown") if chaos else str(release)
        return Deployment(ref=ref, commit=commit, version=version, chaos=chaos, labels=labels,
                          duration_s=time.monotonic() - started,
                          timeout_s=stack_timeout_s(app.stack, stack_services(app.stack, self.client),
                                                    self.settings.deploy_timeout_s),
                          overrides=[endpoints.describe()] if endpoints else [])

    def _compose_chain(self, app: App, ref: str, force_chaos: bool
                       ) -> tuple[str, str | None, bool, list[Path], EndpointPlan | None]:
        """What a deploy of `ref` hands `docker stack deploy`: the app's clone checked out at it,
        its COMPOSE_FILE chain and the label override (a new one per deploy)."""
        commit = git.rev_parse(app.checkout, ref)
        git.git(app.checkout, "checkout", "-q", "--force", "--detach", commit)
        git.git(app.checkout, "clean", "-q", "-fdx")
        release = next((t for t in git.tags_at(app.checkout, commit) if parse_version(t)), None)
        chaos = force_chaos or release is None
        names = compose_files(app.env)
        missing = [name for name in names if bounded.work_tree_file(app.checkout, name) is None]  # or out: refused
        if missing:
            raise InfraError(f"{ref}: COMPOSE_FILE names {', '.join(missing)}, not in the recipe at that ref")
        chain = {name: bounded.load_yaml_file(app.checkout, name) for name in names}
        # what plan time checked in git's tree, again with this deploy's own env in the files docker reads
        environ = {k: v for k, v in self._stack_env(app).items() if not k.startswith("DOCKER_")} | self.target.host_env()
        check_host_files(chain, names[0], environ, bounded.work_tree(app.checkout), lambda name: name)
        app.deployments += 1
        files = [app.checkout / name for name in names]
        ports = _service_ports(chain)
        endpoints = self._plan_endpoints(app, ports)
        override = self._write_label_override(app, list(ports), commit, chaos, endpoints)
        return commit, release, chaos, [*files, override], endpoints

    def render(self, app: App, ref: str, upgrade: bool = False) -> str:
        """The compose `deploy(app, ref)` (or `upgrade`, chaos) would hand the swarm, merged and
        interpolated by `docker stack config` with the same files and env; nothing is deployed."""
        *_, files, _ = self._compose_chain(app, ref, force_chaos=upgrade)
        cmd = ["docker", "stack", "config", *[arg for f in files for arg in ("-c", str(f))]]
        done = self.target.run_host(cmd, cwd=app.checkout, env=self._stack_env(app))
        if done.failed:
            raise InfraError(scrubber.scrub(f"docker stack config failed: {done.output.strip()[-500:]}"))
        return done.output

    def _stack_env(self, app: App) -> dict[str, str]:
        """What compose interpolation sees: only the app env, abra.sh exports and STACK_NAME (and
        the target adds the DOCKER_HOST that reaches its swarm)."""
        return interpolation_env(app.env, bounded.read_file(app.checkout, "abra.sh"), app.stack)

    def _plan_endpoints(self, app: App, ports: dict[str, list[Any]]) -> EndpointPlan | None:
        plan = self._endpoints[app.stack] = plan_endpoints(self.settings.dnsrr, self.service_vips, ports)
        if plan and plan.kept_vip:
            self.say(plan.describe())  # the preflight line could not know which services keep a VIP
        return plan

    def _write_label_override(self, app: App, services: list[str], commit: str, chaos: bool,
                              endpoints: EndpointPlan | None) -> Path:
        """An extra compose file adding our labels, like abra does for chaos deploys, and
        `endpoint_mode: dnsrr` where the host needs it."""
        labels = [f"{key}={value}" for key, value in self._run_labels(app).items()]
        if chaos:
            labels += [f"coop-cloud.{app.stack}.chaos=true",
                       f"coop-cloud.{app.stack}.chaos-version={commit[:8]}"]
        dnsrr = set(endpoints.dnsrr if endpoints else [])
        overrides = {name: {"deploy": {"labels": labels, **({"endpoint_mode": "dnsrr"} if name in dnsrr else {})}}
                     for name in services}
        path = app.files.compose_override(app.deployments)
        write_text_atomic(path, yaml.safe_dump({"version": "3.8", "services": overrides}))
        return path

    def _stack_deploy(self, app: App, files: list[Path]) -> None:
        env = self._stack_env(app)
        cmd = ["docker", "stack", "deploy", "--resolve-image", self.resolve_image,
               *[arg for f in files for arg in ("-c", str(f))], app.stack]
        with timing.waiting("docker"):
            done = self.target.run_host(cmd, cwd=app.checkout, env=env)
        write_text_atomic(app.files.deploy_log(app.deployments), done.output)
        if done.failed:
            last = done.output.strip().splitlines()[-1:] or [f"exit {done.exit_code}"]
            raise InfraError(scrubber.scrub(f"docker stack deploy {app.stack} failed: {last[0]}"))

    def wait_converged(self, app: App) -> dict[str, str]:
        """Wait until every service of the app has converged; return the app service's labels."""
        return self._wait_converged(app)

    def _wait_converged(self, app: App) -> dict[str, str]:
        with timing.waiting("docker"):
            return wait_converged(self.client, app.stack, default_timeout_s=self.settings.deploy_timeout_s,
                                  say=self.say, describe=lambda progress, reason: self._describe_failure(
                                      app, progress, reason))

    def _describe_failure(self, app: App, progress: Progress, reason: str) -> str:
        """The reason plus what the swarm knows of why: task errors, last healthcheck, log tail.
        The service or its containers may vanish meanwhile; what is gone is left out."""
        details = [f"service {progress.service} {reason}"]
        try:
            tasks = unless_gone(self.client.api.tasks, filters={"service": progress.service}) or []
        except DockerException:
            tasks = []
        errors = task_errors(tasks)
        if errors:
            details.append("task errors: " + "; ".join(errors))
        health = self._last_health_output(tasks)
        if health:
            details.append(f"last healthcheck: {health}")
        logs = self._log_tail(progress.service)
        if logs:
            details.append("last log lines: " + " | ".join(logs))
        diagnosis = host_diagnosis(self.service_vips, self.settings.dnsrr, self._endpoints.get(app.stack),
                                   " ".join(details))
        if diagnosis:
            text, likely_cause = diagnosis
            details = [text, *details] if likely_cause else [*details, text]
        message = scrubber.scrub(" — ".join(details))
        write_text_atomic(app.files.convergence_log(progress.service), message + "\n")
        return message

    def _last_health_output(self, tasks: list[dict[str, Any]]) -> str:
        for task in sorted(tasks, key=lambda t: t.get("Status", {}).get("Timestamp", ""), reverse=True):
            cid = task.get("Status", {}).get("ContainerStatus", {}).get("ContainerID")
            if not cid:
                continue
            try:
                container = unless_gone(self.client.api.inspect_container, cid)
            except DockerException:
                continue
            entries = ((container or {}).get("State", {}).get("Health") or {}).get("Log") or []
            if entries:
                last = entries[-1]
                return f"exit {last.get('ExitCode')}: {last.get('Output', '').strip()[:200] or '(no output)'}"
        return ""

    def _log_tail(self, service: str, lines: int = 5) -> list[str]:
        try:
            chunks = self.client.api.service_logs(service, stdout=True, stderr=True, tail=lines)
            text = b"".join(chunks).decode(errors="replace")
        except DockerException:
            return []
        return [line.strip() for line in text.splitlines() if line.strip()][-lines:]

    # -- backup and restore -----------------------------------------------------------------

    def backup(self, app: App, witnesses: bool = True) -> Snapshot:
        return target_backup.backup(self.target, app, self.say, witnesses)

    def restore(self, app: App, snapshot: Snapshot) -> RestoreRecord:
        return target_backup.restore(self.target, app, self.say, snapshot, self.wait_converged)

    def remove_witnesses(self, app: App, witnesses: list[Witness]) -> None:
        """Nothing to do: this driver's teardown removes the volumes that hold them, and checks
        that they are gone (a leftover volume is reported as such, witness and all)."""

    # -- teardown ------------------------------------------------------------------------

    def teardown(self, app: App) -> list[str]:
        with timing.waiting("docker"):
            return remove_stack(self.client, app.stack)


def _service_ports(chain: dict[str, Any]) -> dict[str, list[Any]]:
    """Every service of the loaded compose files, in order, with the `ports:` entries they give it."""
    ports: dict[str, list[Any]] = {}
    for data in chain.values():
        services = data.get("services") if isinstance(data, dict) else None
        for name, service in (services if isinstance(services, dict) else {}).items():
            given = service.get("ports") if isinstance(service, dict) else None
            ports.setdefault(name, []).extend(given if isinstance(given, list) else [])
    return ports
