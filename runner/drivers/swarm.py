"""The built-in driver: plain `docker stack deploy` on the local swarm, abra's conventions."""

from __future__ import annotations

import logging
import os
import secrets as pysecrets
import string
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import yaml
from docker.errors import APIError, NotFound

from runner.drivers.base import App, Deployment
from runner.errors import ConvergenceError, InfraError
from runner.harness import git, naming
from runner.harness.convergence import Progress, task_errors
from runner.harness.docker_client import docker_client
from runner.harness.envfile import compose_files, parse_abra_exports, parse_env, secret_specs
from runner.harness.fileio import write_text_atomic
from runner.harness.lifecycle import STACK_LABEL, stack_progress, stack_services
from runner.harness.scrub import scrubber
from runner.harness.versions import parse_version

log = logging.getLogger(__name__)

RUN_LABEL = "cc-ci.run"
OWNER_STACK_LABEL = "cc-ci.stack"  # on the secrets we create ourselves (they are external to the stack)
RUN_DIR_LABEL = "cc-ci.run-dir"  # where the run's lock lives, so gc finds it whatever runs dir it is given
DEFAULT_TIMEOUT_S = 120
TEARDOWN_DEADLINE_S = 120.0
POLL_S = 0.5
PROGRESS_EVERY_S = 10.0
_SECRET_ALPHABET = string.ascii_letters + string.digits


class SwarmDriver:
    name = "swarm"

    def __init__(self, domain_base: str = "ccci.test", resolve_image: str = "always",
                 default_timeout_s: int = DEFAULT_TIMEOUT_S,
                 say: Callable[[str], None] = lambda message: None) -> None:
        self.domain_base = domain_base
        self.resolve_image = resolve_image
        self.default_timeout_s = default_timeout_s
        self.say = say  # progress for long waits

    @property
    def client(self) -> docker.DockerClient:
        return docker_client()

    # -- new app -------------------------------------------------------------------------

    def new_app(self, recipe: str, checkout: Path, run_id: str, run_dir: Path) -> App:
        domain = naming.app_domain(recipe, run_id, self.domain_base)
        stack = naming.stack_name(domain)
        sample = checkout / ".env.sample"
        env = parse_env(sample.read_text(), overrides={"DOMAIN": domain}, source=".env.sample")
        app = App(recipe=recipe, run_id=run_id, domain=domain, stack=stack, checkout=checkout,
                  run_dir=run_dir, env=env.values, secrets=secret_specs(env))
        for spec in app.secrets:
            naming.secret_name(stack, spec.name, spec.version)  # fail on bad names before creating any
        write_text_atomic(run_dir / "app.env", "".join(f"{k}={v}\n" for k, v in app.env.items()))
        return app  # nothing on the swarm yet: secrets are created by deploy, inside the app's lifetime

    def _create_secrets(self, app: App) -> None:
        existing = {s.name for s in self.client.secrets.list(filters={"label": f"{OWNER_STACK_LABEL}={app.stack}"})}
        for spec in app.secrets:
            name = naming.secret_name(app.stack, spec.name, spec.version)
            if name in existing:
                continue
            value = "".join(pysecrets.choice(_SECRET_ALPHABET) for _ in range(spec.length))
            scrubber.add(value)  # before it can reach any output
            self.client.secrets.create(name=name, data=value.encode(),
                                       labels={OWNER_STACK_LABEL: app.stack, RUN_LABEL: app.run_id,
                                               RUN_DIR_LABEL: str(app.run_dir.resolve())})

    # -- deploy --------------------------------------------------------------------------

    def deploy(self, app: App, ref: str) -> Deployment:
        started = time.monotonic()
        commit = git.rev_parse(app.checkout, ref)
        git.git(app.checkout, "checkout", "-q", "--force", "--detach", commit)
        git.git(app.checkout, "clean", "-q", "-fdx")
        release = next((t for t in git.tags_at(app.checkout, commit) if parse_version(t)), None)
        files = [app.checkout / f for f in compose_files(app.env)]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise InfraError(f"{ref}: COMPOSE_FILE names {', '.join(missing)}, not in the recipe at that ref")
        self._create_secrets(app)
        override = self._write_label_override(app, files, commit, chaos=release is None)
        app.deploy_count += 1
        self._stack_deploy(app, [*files, override])
        labels = self._wait_converged(app)
        version = release or labels.get(f"coop-cloud.{app.stack}.version", "unknown")
        return Deployment(ref=ref, commit=commit, version=version, chaos=release is None,
                          labels=labels, duration_s=time.monotonic() - started)

    def _write_label_override(self, app: App, files: list[Path], commit: str, chaos: bool) -> Path:
        """An extra compose file adding our labels, like abra does for chaos deploys."""
        labels = [f"{RUN_LABEL}={app.run_id}", f"{RUN_DIR_LABEL}={app.run_dir.resolve()}"]
        if chaos:
            labels += [f"coop-cloud.{app.stack}.chaos=true",
                       f"coop-cloud.{app.stack}.chaos-version={commit[:8]}"]
        services = {name: {"deploy": {"labels": labels}} for name in _service_names(files)}
        path = app.run_dir / f"compose.cc-ci.{app.deploy_count + 1}.yml"
        write_text_atomic(path, yaml.safe_dump({"version": "3.8", "services": services}))
        return path

    def _stack_deploy(self, app: App, files: list[Path]) -> None:
        exports = parse_abra_exports(_read(app.checkout / "abra.sh"))
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME") or k.startswith("DOCKER_")}
        # compose interpolation sees only the app env, abra.sh exports and STACK_NAME
        env |= app.env | exports | {"STACK_NAME": app.stack}
        cmd = ["docker", "stack", "deploy", "--resolve-image", self.resolve_image,
               *[arg for f in files for arg in ("-c", str(f))], app.stack]
        done = subprocess.run(cmd, cwd=app.checkout, env=env, capture_output=True, text=True)
        output = done.stdout + done.stderr
        write_text_atomic(app.run_dir / "logs" / f"deploy-{app.deploy_count}.log", output)
        if done.returncode != 0:
            last = output.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
            raise InfraError(scrubber.scrub(f"docker stack deploy {app.stack} failed: {last[0]}"))

    def _wait_converged(self, app: App) -> dict[str, str]:
        services = stack_services(app.stack, self.client)
        if not services:
            raise InfraError(f"docker stack deploy created no services for {app.stack}")
        timeout = self._timeout_s(app.stack, services)
        deadline = time.monotonic() + timeout
        next_report = time.monotonic() + PROGRESS_EVERY_S
        while True:
            progress = stack_progress(app.stack, self.client)
            if time.monotonic() >= next_report:
                next_report += PROGRESS_EVERY_S
                waiting = ", ".join(f"{p.service} {p.running}/{p.desired}" for p in progress if not p.converged)
                self.say(f"waiting for convergence ({deadline - time.monotonic():.0f}s left): {waiting}")
            failed = next((p for p in progress if p.failure), None)
            if failed:
                raise ConvergenceError(self._describe_failure(app, failed, failed.failure or ""))
            if all(p.converged for p in progress):
                return self._app_labels(app.stack)
            if time.monotonic() >= deadline:
                stuck = next(p for p in progress if not p.converged)
                raise ConvergenceError(self._describe_failure(
                    app, stuck, f"did not converge within {timeout}s ({stuck.running}/{stuck.desired} running)"))
            time.sleep(POLL_S)

    def _timeout_s(self, stack: str, services: list[Any]) -> int:
        for service in services:
            raw = service.attrs["Spec"].get("Labels", {}).get(f"coop-cloud.{stack}.timeout", "")
            if raw.strip().isdigit() and int(raw) > 0:
                return int(raw)
        return self.default_timeout_s

    def _app_labels(self, stack: str) -> dict[str, str]:
        """Labels of the service carrying the recipe's version label (abra's `app` service)."""
        services = stack_services(stack, self.client)
        for service in services:
            labels = service.attrs["Spec"].get("Labels", {})
            if f"coop-cloud.{stack}.version" in labels:
                return dict(labels)
        return dict(services[0].attrs["Spec"].get("Labels", {}))

    def _describe_failure(self, app: App, progress: Progress, reason: str) -> str:
        service = self.client.services.get(progress.service)
        tasks = service.tasks()
        details = [f"service {progress.service} {reason}"]
        errors = task_errors(tasks)
        if errors:
            details.append("task errors: " + "; ".join(errors))
        health = self._last_health_output(tasks)
        if health:
            details.append(f"last healthcheck: {health}")
        logs = self._log_tail(service)
        if logs:
            details.append("last log lines: " + " | ".join(logs))
        message = scrubber.scrub(" — ".join(details))
        write_text_atomic(app.run_dir / "logs" / f"convergence-{progress.service}.log", message + "\n")
        return message

    def _last_health_output(self, tasks: list[dict[str, Any]]) -> str:
        for task in sorted(tasks, key=lambda t: t.get("Status", {}).get("Timestamp", ""), reverse=True):
            cid = task.get("Status", {}).get("ContainerStatus", {}).get("ContainerID")
            if not cid:
                continue
            try:
                health = self.client.api.inspect_container(cid)["State"].get("Health") or {}
            except NotFound:
                continue
            entries = health.get("Log") or []
            if entries:
                last = entries[-1]
                return f"exit {last.get('ExitCode')}: {last.get('Output', '').strip()[:200] or '(no output)'}"
        return ""

    def _log_tail(self, service: Any, lines: int = 5) -> list[str]:
        try:
            chunks = service.logs(stdout=True, stderr=True, tail=lines)
            text = b"".join(chunks).decode(errors="replace")
        except APIError:
            return []
        return [line.strip() for line in text.splitlines() if line.strip()][-lines:]

    # -- teardown ------------------------------------------------------------------------

    def teardown(self, app: App) -> list[str]:
        return remove_stack(self.client, app.stack)


def remove_stack(client: docker.DockerClient, stack: str, deadline_s: float = TEARDOWN_DEADLINE_S) -> list[str]:
    """`docker stack rm`, waiting until containers are really gone, then volumes, secrets,
    configs and networks; returns whatever still exists afterwards."""
    by_stack = {"label": f"{STACK_LABEL}={stack}"}
    for service in stack_services(stack, client):
        _ignore_gone(service.remove)
    deadline = time.monotonic() + deadline_s
    # `docker stack rm` returns before the containers are gone, and volumes in use cannot be
    # removed. Kill rather than wait out the stop grace period: a torn-down app's state is moot.
    while (containers := client.containers.list(all=True, filters=by_stack)) and time.monotonic() < deadline:
        for container in containers:
            if container.status == "running":
                _ignore_gone(container.kill)
        time.sleep(POLL_S)
    while time.monotonic() < deadline:
        for kind in ("secrets", "configs", "networks", "volumes"):
            for obj in _owned(client, kind, stack):
                _ignore_gone(obj.remove)
        if not stack_leftovers(client, stack):
            break
        time.sleep(POLL_S)
    return stack_leftovers(client, stack)


def _ignore_gone(remove: Any) -> None:
    try:
        remove()
    except NotFound:
        pass
    except APIError as err:  # still in use: the next pass retries
        log.debug("removal deferred: %s", err)


def _owned(client: docker.DockerClient, kind: str, stack: str) -> list[Any]:
    collection = getattr(client, kind)
    found = {o.id: o for o in collection.list(filters={"label": f"{STACK_LABEL}={stack}"})}
    if kind == "secrets":
        found |= {o.id: o for o in collection.list(filters={"label": f"{OWNER_STACK_LABEL}={stack}"})}
    # anything else named after the stack is ours too (e.g. created by hand during a debug session)
    for obj in collection.list(filters={"name": f"{stack}_"}):
        if obj.name.startswith(f"{stack}_"):
            found[obj.id] = obj
    return list(found.values())


def stack_leftovers(client: docker.DockerClient, stack: str) -> list[str]:
    """Every service, container, volume, secret, config and network of the stack still present."""
    left = [f"service {s.name}" for s in stack_services(stack, client)]
    left += [f"container {c.name}" for c in
             client.containers.list(all=True, filters={"label": f"{STACK_LABEL}={stack}"})]
    for kind in ("volumes", "secrets", "configs", "networks"):
        left += [f"{kind[:-1]} {o.name}" for o in _owned(client, kind, stack)]
    return sorted(left)


def _service_names(files: list[Path]) -> list[str]:
    names: dict[str, None] = {}
    for path in files:
        data = yaml.safe_load(path.read_text()) or {}
        names |= dict.fromkeys((data.get("services") or {}).keys())
    return list(names)


def _read(path: Path) -> str:
    return path.read_text() if path.is_file() else ""
