"""Shared dependencies (issue 26): a recipe's `DEPS` are apps of their own, deployed once per
target and shared by the runs that need them.

Each dependency at one version on one target has a slot, `<deps dir>/<name>-<key>/`: its deploy
lock (runs take turns deciding about it: two first runs never deploy it twice), `current` (the run
id of the live shared app) and that app's own run dir, made by an ordinary run of the dependency
recipe (`Run(keep_app=True)`: install and its own install floor, through the same driver and
target, with its own stack, domain, secrets and labels) whose app is kept only when its floor
passed. A later run checks it (its services there, converged, answering HTTP) and reuses it, or
tears down a broken one and deploys a fresh one: a broken one is never reused. While a run uses
it, the run holds a lease (a shared flock on the app's run.lock): gc keeps a leased app, and
removes an idle one past its TTL (`runner/swarm/gc.py`, `judge_dependency`).

Then the dependency recipe's `provision(ctx, for_run)` (its ops.py) gives this run its own realm,
tenant or users; every value it returns that is not public is scrubbed from every output
(`runner/run/deps.py`, `is_public`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from runner.drivers import create_driver
from runner.errors import BadInput, CcciError, InfraError
from runner.maintainer.hooks import HookContext
from runner.maintainer.meta import RecipeMeta, parse_dep
from runner.maintainer.pyfile import load_module
from runner.ops import LIFECYCLE
from runner.ops.install import Install
from runner.orchestrator import Interrupted, Run
from runner.plumbing.fileio import write_text_atomic
from runner.run.app import App
from runner.run.config import RunConfig
from runner.run.deps import ProvidedDep, Say, mark_released, scrub_provisioned
from runner.run.opstate import OpState
from runner.run.rundir import RunDir
from runner.run.runlock import exclusive, lease, run_lock
from runner.targets.base import Target

PROVISION = "provision"  # the hook a dependency recipe's ops.py may define
HEALTH_WAIT_S = 10.0  # a shared app that does not answer within this is broken, not slow


@dataclass(frozen=True)
class Slot:
    """One dependency at one version on one target, on this harness host."""

    root: Path

    @property
    def deploy_lock(self) -> Path:
        return self.root / "deploy.lock"

    @property
    def current_file(self) -> Path:
        return self.root / "current"

    def run_dir(self, run_id: str) -> RunDir:
        return RunDir.at(self.root, run_id)

    def forget(self, run_id: str) -> None:
        """`current` no longer names `run_id` (gc removed it)."""
        with contextlib.suppress(FileNotFoundError):
            if self.current_file.read_text().strip() == run_id:
                self.current_file.unlink()

    def current(self) -> RunDir | None:
        """The live shared app's run dir, if one was kept (gc may have removed it since)."""
        try:
            run_id = self.current_file.read_text().strip()
        except FileNotFoundError:
            return None
        return self.run_dir(run_id) if run_id and self.run_dir(run_id).root.is_dir() else None


def slot_of(deps_dir: Path, name: str, version: str | None, target_address: str, host_id: str) -> Slot:
    """Per target and version: runs on another target, or wanting another release, never share it."""
    key = hashlib.sha256(f"{host_id}\0{target_address}\0{name}\0{version or ''}".encode()).hexdigest()[:10]
    return Slot(deps_dir / f"{name}-{key}")


def dependency_run_id(name: str) -> str:
    """`dep-<name>-<8 hex>`: each deployment of a dependency is a run of its own."""
    return f"dep-{name[:24].rstrip('-')}-{secrets.token_hex(4)}"


class SharedDeps:
    """The run's `DepsProvider`: `provide(DEPS, target, say)` deploys or reuses each dependency,
    leases it and provisions it for the run, for as long as the block runs."""

    def __init__(self, config: RunConfig, overlays: Path, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.overlays = overlays  # the folder of overlay folders: a dependency's own is `<it>/<name>`
        self.clock = clock

    @contextlib.contextmanager
    def provide(self, wanted: list[str], target: Target, say: Say) -> Iterator[list[ProvidedDep]]:
        provided: list[ProvidedDep] = []
        with contextlib.ExitStack() as leases:
            for text in wanted:
                name, version = parse_dep(text)
                dep = ProvidedDep(name=name, wanted=version)
                started = time.monotonic()
                try:
                    app, run_dir = self._leased(dep, target, say, leases)
                    dep.values = self._provision(name, app, run_dir, target)
                except Interrupted:  # SIGINT/SIGTERM: the whole run stops (its leases go with the block)
                    raise
                except Exception as err:  # noqa: BLE001 - the dependency is not provided; its tests go red
                    dep.error = err.args[0] if isinstance(err, CcciError) and err.args else f"{type(err).__name__}: {err}"
                dep.provision_s = time.monotonic() - started
                provided.append(dep)
            yield provided

    # -- deployed once, shared, leased ------------------------------------------------------

    def _leased(self, dep: ProvidedDep, target: Target, say: Say, leases: contextlib.ExitStack) -> tuple[App, RunDir]:
        slot = slot_of(self.config.deps_dir, dep.name, dep.wanted, target.address, self.config.host_id)
        wait_s = 3.0 * self.config.deploy_timeout_s + 60.0  # another first run deploying it, with its floor
        with exclusive(slot.deploy_lock, wait_s) as taken:
            if not taken:
                raise InfraError(f"{dep.name}: another run held its deploy lock for {wait_s:.0f}s")
            current = slot.current()
            if current is not None:
                why = self._unhealthy(current, target)
                if why is None:
                    dep.reused = True
                else:
                    say(f"dependency {dep.name}: {current.root.name} is broken ({why}): replacing it, never reusing it")
                    self._remove(current, target, say)
                    current = None
            if current is None:
                say(f"dependency {dep.name}: deploying it once for this target (its own run and install floor)")
                current = self._deploy(slot, dep, say)
                dep.reused = False
            app = App.from_description(json.loads(current.app_json.read_text()))
            # leased before the deploy lock goes: gc (which takes that lock) never sees it unleased in between
            leases.enter_context(lease(current.root))
            leases.callback(lambda: mark_released(current, self.clock()))  # runs before the lease is dropped
        dep.stack, dep.domain, dep.run_dir = app.stack, app.domain, str(current.root)
        dep.version = _deployed_version(current)
        return app, current

    def _deploy(self, slot: Slot, dep: ProvidedDep, say: Say) -> RunDir:
        run_id = dependency_run_id(dep.name)
        own = self.overlays / dep.name
        config = self.config.model_copy(update={
            "recipe": dep.name, "ref": None, "version": dep.wanted, "pr": None, "pr_head_repo": None,
            "stages": (Install.spec.name,), "run_id": run_id, "runs_dir": slot.root, "catalogue": None,
            "last_green": None, "upgrade_from": "previous", "skip_generic": frozenset(),
            "overlay_dir": own if own.is_dir() else None})
        slot.root.mkdir(parents=True, exist_ok=True)
        run = Run(config, console=Console(file=io.StringIO()), keep_app=True)  # its progress is in its own run log
        result = run.execute()
        run_dir = slot.run_dir(run_id)
        if isinstance(run.first_error, Interrupted):  # its run tore it down; this run stops too
            raise run.first_error
        if not run.kept:
            first = next((t for t in result.tiers if t.verdict not in ("pass", "skip")), None)
            why = result.error or (f"install tier {first.verdict}: {first.first_failure or first.error or ''}".strip()
                                   if first else result.verdict)
            raise InfraError(f"{dep.name}'s own install did not pass ({why}); it was torn down — see {run_dir.run_log}")
        write_text_atomic(slot.current_file, run_id + "\n")
        say(f"dependency {dep.name}: deployed {result.stack} and checked it with its own install floor")
        return run_dir

    def _unhealthy(self, run_dir: RunDir, target: Target) -> str | None:
        """Why the shared app cannot be reused (None: it can): its services gone, not converged,
        or its HEALTH_PATH not answering below 500."""
        try:
            app = App.from_description(json.loads(run_dir.app_json.read_text()))
            meta = RecipeMeta.from_effective(json.loads(run_dir.meta_json.read_text()))
        except (OSError, ValueError, KeyError) as err:
            return f"its run dir cannot be read: {type(err).__name__}"
        if not target.service_labels(app):
            return "its services are gone"
        if unconverged := target.unconverged(app):
            return "; ".join(unconverged)
        try:
            with target.http_client(app, retry_s=HEALTH_WAIT_S) as client:
                status = client.get(meta.HEALTH_PATH).status_code
        except Exception as err:  # noqa: BLE001 - not answering is the answer
            return f"GET {meta.HEALTH_PATH} did not answer: {type(err).__name__}"
        return f"GET {meta.HEALTH_PATH} answered {status}" if status >= 500 else None

    def _remove(self, run_dir: RunDir, target: Target, say: Say) -> None:
        """Tear the broken shared app down (only when no run leases it: a run still using it keeps it)."""
        with contextlib.ExitStack() as held:
            try:
                held.enter_context(run_lock(run_dir.root))
            except BlockingIOError:
                raise InfraError(f"{run_dir.root.name} is broken but another run still holds its lease; "
                                 "it is replaced once that run has ended") from None
            app = App.from_description(json.loads(run_dir.app_json.read_text()))
            driver = create_driver(self.config.driver, self.config.driver_settings, target, say)
            left = driver.teardown(app)
        if left:
            raise InfraError(f"tearing down the broken {app.stack} left {', '.join(left)}")
        run_dir.dep_json.unlink(missing_ok=True)  # its run dir stays: the record of what it was

    # -- provisioned per run ----------------------------------------------------------------

    def _provision(self, name: str, app: App, run_dir: RunDir, target: Target) -> dict[str, str]:
        ops_py = run_dir.tests / name / "ops.py"  # the dependency's own hooks, as its run's gate let them in
        if not ops_py.is_file():
            return {}
        module = load_module(ops_py, f"ccci_provision_{name.replace('-', '_')}_{secrets.token_hex(3)}")
        hook = getattr(module, PROVISION, None)
        if hook is None:
            return {}
        meta = RecipeMeta.from_effective(json.loads(run_dir.meta_json.read_text()))
        ctx = HookContext(op=PROVISION, app=app, op_state=OpState.load(run_dir.op_state, LIFECYCLE.records), meta=meta,
                          _exec=lambda service, cmd, check=True: target.exec_in(app, service, cmd, check=check),
                          _http=lambda: target.http_client(app))
        try:
            values = hook(ctx, self.config.run_id)
        except Exception as err:  # noqa: BLE001 - the dependency's own failure: it is not provided
            raise InfraError(f"{name}'s provision failed: {type(err).__name__}: {err}") from err
        finally:
            ctx.close()
        if not isinstance(values, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in values.items()):
            raise BadInput(f"tests/{name}/ops.py: provision must return dict[str, str], got {type(values).__name__}")
        scrub_provisioned(values)  # before anything can print them
        return values


def _deployed_version(run_dir: RunDir) -> str | None:
    try:
        results = json.loads(run_dir.results.read_text())
    except (OSError, ValueError):
        return None
    deployments = results.get("deployments") or []
    return str(deployments[0].get("version")) if deployments else None
