"""A driver that performs nothing and records every call, on a target that reaches nothing: the
orchestrator's unit tests use them."""

from __future__ import annotations

import contextlib
from pathlib import Path

import httpx

from runner.errors import InfraError
from runner.plumbing.proc import ExecResult
from runner.run.app import App, Deployment
from runner.run.config import DriverSettings
from runner.run.opstate import (
    AppIdentity,
    BackedUpFile,
    RestoreRecord,
    ServiceIdentity,
    Snapshot,
    VolumeIdentity,
    Witness,
)


class _NoServices:
    """A docker client whose engine knows no service and no task."""

    class api:  # noqa: N801 -- docker's attribute name
        @staticmethod
        def services(filters: dict[str, object] | None = None) -> list[dict[str, object]]:
            return []

        @staticmethod
        def tasks(filters: dict[str, object] | None = None) -> list[dict[str, object]]:
            return []


class FakeTarget:
    """Records exec calls into the driver's list; HTTP answers 200 from a mock transport."""

    name = "fake"
    address = "fake"
    host_id = "fake-host"

    def __init__(self, calls: list[str] | None = None, backup_unsupported: str | None = None) -> None:
        self.calls = calls if calls is not None else []
        self.closed = False
        self.beating: list[str] = []  # stacks whose heartbeat ran
        self.client = _NoServices()  # what docker says of a fake app: no services (the idempotence check reads it)
        self._backup_unsupported = backup_unsupported
        self.planted: list[Witness] = []  # what plant_witnesses returns

    def exec_in(self, app: App, service: str, cmd: list[str] | str, *, check: bool = True,
                rerun_if_output_lost: bool = False) -> ExecResult:
        self.calls.append(f"exec {service}")
        return ExecResult(0, "", "")

    def http_client(self, app: App, service: str | None = None, port: int | None = None, *,
                    retry_s: float = 0.0) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, text="ok")),
                            base_url="http://app")

    def run_on_node(self, argv: list[str]) -> ExecResult:
        self.calls.append(f"on node: {' '.join(argv)}")
        return ExecResult(0, "", "")

    def heartbeat(self, app: App) -> contextlib.AbstractContextManager[object]:
        self.beating.append(app.stack)
        return contextlib.nullcontext()

    def description(self) -> dict[str, str]:
        return {"kind": "fake", "address": "fake"}

    def close(self) -> None:
        self.closed = True

    def backup_unsupported(self, app: App) -> str | None:
        return self._backup_unsupported

    def volume_files(self, app: App) -> dict[str, list[BackedUpFile]]:
        return {"content": []}

    def plant_witnesses(self, app: App) -> list[Witness]:
        return list(self.planted)  # none unless a test sets some

    def file_digests(self, app: App, files: list[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        return dict.fromkeys(files)

    def unconverged(self, app: App) -> list[str]:
        return []

    def service_labels(self, app: App) -> dict[str, dict[str, str]]:
        return {}

    def deployed_identity(self, app: App) -> AppIdentity:
        """One service updated in place by every deploy (its spec version is the deploy count)."""
        deploys = sum(1 for call in self.calls if call.startswith(("deploy", "upgrade")))
        return AppIdentity(stack=app.stack,
                           services={"app": ServiceIdentity(id="svc-app", version=deploys, updated_at=str(deploys))},
                           volumes={f"{app.stack}_content": VolumeIdentity(name=f"{app.stack}_content",
                                                                           created_at="2026-01-01T00:00:00Z")})


class FakeDriver:
    name = "fake"

    def __init__(self, fail: dict[str, Exception] | None = None, backup_unsupported: str | None = None,
                 teardown_raises: bool = False) -> None:
        self.calls: list[str] = []
        self.fail = fail or {}
        self.stacks: set[str] = set()  # stacks deployed and not torn down
        self.teardown_raises = teardown_raises
        self.settings: DriverSettings | None = None  # what the orchestrator configured it with
        self.target = FakeTarget(self.calls, backup_unsupported)

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if name in self.fail:
            raise self.fail[name]

    def new_app(self, recipe: str, checkout: Path, run_id: str, run_dir: Path, ref: str, name: str = "") -> App:
        self._call(f"new_app {name}" if name else "new_app")
        self.new_app_ref = ref
        app = App(recipe=recipe, run_id=run_id, domain=f"{recipe}{'-' + name if name else ''}.test",
                  stack=f"{recipe}{'-' + name if name else ''}_test",
                  checkout=checkout, run_dir=run_dir, env={}, driver=self.name, name=name)
        app.set_env({"DOMAIN": app.domain}, [])
        reload = app.reload_env

        def recorded_reload() -> None:  # the app env's owner is App; the tests see when it re-read
            self.calls.append("reload_env")
            reload()

        app.reload_env = recorded_reload  # type: ignore[method-assign]
        self.deployed_env: dict[str, str] | None = None
        return app

    def _deployment(self, ref: str, chaos: bool) -> Deployment:
        return Deployment(ref=ref, commit=ref, version="1.0.0+1.0", chaos=chaos, labels={}, duration_s=0.0)

    def deploy(self, app: App, ref: str) -> Deployment:
        self._call(f"deploy {_short(ref)}")
        self.deployed_env = dict(app.env)
        if app.stack not in self.stacks:  # counted as the swarm driver counts: a stack created
            self.stacks.add(app.stack)
            app.deploy_count += 1
        return self._deployment(ref, chaos=False)

    def upgrade(self, app: App, ref: str) -> Deployment:
        self._call(f"upgrade {_short(ref)}")
        return self._deployment(ref, chaos=True)

    def backup(self, app: App, witnesses: bool = True) -> Snapshot:
        self._call("backup")
        self.backup_witnesses = witnesses
        return Snapshot(id="0123456789abcdef", repository="/r", export="/r.tar.gz", volumes={"content": []})

    def restore(self, app: App, snapshot: Snapshot) -> RestoreRecord:
        self._call(f"restore {snapshot.id[:8]}")
        return RestoreRecord(snapshot_id=snapshot.id, volumes=["content"], files=0, duration_s=0.0)

    def remove_witnesses(self, app: App, witnesses: list[Witness]) -> None:
        self._call("remove_witnesses")
        self.removed = list(witnesses)

    def share_secrets(self, source: App, app: App) -> list[str]:
        self._call(f"share_secrets {source.stack} -> {app.stack}")
        return [f"{spec.name} {spec.version}" for spec in app.secrets]

    def teardown(self, app: App) -> list[str]:
        self.calls.append(f"teardown {app.name}" if app.name else "teardown")
        self.stacks.discard(app.stack)
        if self.teardown_raises:
            raise InfraError("docker went away during teardown")
        return []



def _short(ref: str) -> str:
    """Commits as 8 hex digits, tags as they are."""
    return ref[:8] if len(ref) == 40 else ref
