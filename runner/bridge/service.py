"""The bridge assembled: store, forge client, reporter, executor, dispatcher, intake, poller and
the HTTP app, with one lifecycle (start workers, serve, stop)."""

from __future__ import annotations

import fcntl
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

import uvicorn
from pydantic import SecretStr

from runner.bridge import views
from runner.bridge.binding import recheck_before_start
from runner.bridge.catalog import BridgeCatalog
from runner.bridge.config import (
    BridgeConfig,
    DroneExecutorConfig,
    LocalExecutorConfig,
    resolve_secret,
)
from runner.bridge.dispatcher import Dispatcher
from runner.bridge.executors import Executor, build_executor
from runner.bridge.executors.drone import DroneExecutor
from runner.bridge.executors.local import LocalExecutor
from runner.bridge.forge.client import ForgeClient
from runner.bridge.intake import Intake
from runner.bridge.metrics import CONTENT_TYPE, BridgeMetrics
from runner.bridge.nightly.drone import DroneRuns
from runner.bridge.nightly.run import run_night
from runner.bridge.nightly.when import Due
from runner.bridge.nightly.worker import Nightly
from runner.bridge.outbox import Outbox
from runner.bridge.poller import Poller
from runner.bridge.reports import Reporter
from runner.bridge.retry import RetryPolicy
from runner.bridge.store import Job, Store
from runner.bridge.webhook import OperatorViews, build_app
from runner.dashboard.pages import Dashboard, bounded_server
from runner.errors import InfraError
from runner.pictures.card import card_state
from runner.plumbing.scrub import scrubber
from runner.run.rundir import RunDir

log = logging.getLogger("cc-ci.bridge")


@dataclass(frozen=True)
class BridgeSecrets:
    forge_token: SecretStr
    webhook_secret: SecretStr
    drone_token: SecretStr | None = None


def load_secrets(cfg: BridgeConfig) -> BridgeSecrets:
    drone = cfg.executor
    return BridgeSecrets(
        forge_token=resolve_secret(cfg.forge.token, "forge.token"),
        webhook_secret=resolve_secret(cfg.webhook.secret, "webhook.secret"),
        drone_token=resolve_secret(drone.token, "executor.token")
        if isinstance(drone, DroneExecutorConfig)
        else None,
    )


def secret_env_names(cfg: BridgeConfig) -> list[str]:
    refs = [cfg.forge.token, cfg.webhook.secret]
    if isinstance(cfg.executor, DroneExecutorConfig):
        refs.append(cfg.executor.token)
    return [ref.env for ref in refs if ref.env]


class Bridge:
    def __init__(
        self, cfg: BridgeConfig, secrets: BridgeSecrets, executor: Executor | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.cfg = cfg
        self._lock_file = _lock_state_dir(cfg)
        # what the bridge sends out (a nightly report above all) never carries its own secrets
        for secret in (secrets.forge_token, secrets.webhook_secret, secrets.drone_token):
            if secret is not None:
                scrubber.add(secret.get_secret_value())
        policy = RetryPolicy(cfg.retry.attempts, cfg.retry.base_seconds, cfg.retry.max_seconds)
        self.store = Store(cfg.db_path)
        self.forge = ForgeClient(
            cfg.forge.url, secrets.forge_token, policy, cfg.forge.timeout_seconds
        )
        self.reporter = Reporter(self.forge, self.store, cfg.status_context, self._own_follow_url,
                                 self._card_url)
        self.outbox = Outbox(self.store, self.reporter, cfg.retry.base_seconds)
        self.executor = executor or self._build_executor(secrets, policy)
        self.dispatcher = Dispatcher(
            self.store,
            self.executor,
            self.reporter,
            cfg.max_attempts,
            recheck=lambda job: recheck_before_start(self.forge, job),
        )
        self.metrics = BridgeMetrics(self.store, self.forge)
        self.intake = Intake(
            cfg,
            self.store,
            self.forge,
            on_decided=self._decided,
            on_queued=self.metrics.observe_queued,
        )
        # Polls every interval, or (webhook-only) once on start: the catch-up.
        self.poller = Poller(cfg, self.store, self.forge, self.intake)
        self.app = build_app(
            path=cfg.webhook.path,
            secret=secrets.webhook_secret,
            max_body_bytes=cfg.webhook.max_body_bytes,
            intake=self.intake,
            views=OperatorViews(
                health=lambda: views.health(
                    self.store, self.forge, self.poller.caught_up.is_set()
                ),
                run_page=self.run_page,
                runs_page=lambda page, per_page: views.runs_page(self.store, page, per_page),
                metrics=self.metrics.render,
                metrics_content_type=CONTENT_TYPE,
            ),
            dashboard=Dashboard(BridgeCatalog(self.store, self._runs_dir(), sorted(set(cfg.repos.values()))),
                                history=cfg.catalogue_history),
        )
        self._closers: list[Callable[[], None]] = []
        self.nightly = self._build_nightly(secrets, policy, clock)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False
        # Where this process listens (set by bind) and where PR readers reach it (public_url).
        self.bound_url = f"http://{cfg.webhook.host}:{cfg.webhook.port}"
        self.base_url = cfg.public_url or self.bound_url

    def _build_executor(self, secrets: BridgeSecrets, policy: RetryPolicy) -> Executor:
        if isinstance(self.cfg.executor, DroneExecutorConfig):
            return build_executor(
                self.cfg.executor, self.cfg.state_dir, policy, secrets.drone_token
            )
        # The run must not inherit the bridge's own secrets through its environment.
        return LocalExecutor(
            self.cfg.executor, self.cfg.state_dir / "logs", drop_env=secret_env_names(self.cfg)
        )

    def _build_nightly(self, secrets: BridgeSecrets, policy: RetryPolicy,
                       clock: Callable[[], datetime] | None) -> Nightly | None:
        nightly = self.cfg.nightly
        if nightly is None:
            return None
        drone = None
        if isinstance(self.cfg.executor, DroneExecutorConfig):
            assert secrets.drone_token is not None
            drone = DroneRuns(DroneExecutor(self.cfg.executor, secrets.drone_token, policy),
                              self.cfg.executor.timeout_seconds)
            self._closers.append(drone.close)
        drop = secret_env_names(self.cfg)

        def night(due: Due) -> None:
            run_night(self.cfg, due, self.forge, drone, drop)

        return Nightly(nightly.at_time, nightly.zone, self.store, night, **({"now": clock} if clock else {}))

    def _decided(self) -> None:
        self.dispatcher.wake()
        self.outbox.wake()

    def _own_follow_url(self, job: Job) -> str:
        return f"{self.base_url.rstrip('/')}/runs/{job.run_id}"

    def _card_url(self, job: Job) -> str | None:
        """The run's summary card as this bridge serves it (dashboard file route), when the run
        ran here and its card is made or being made; Drone runs' cards stay on the CI machine."""
        runs_dir = self._runs_dir()
        if runs_dir is None or card_state(runs_dir / job.run_id) not in ("making", "made"):
            return None
        return f"{self.base_url.rstrip('/')}/runs/{job.run_id}/files/{RunDir.CARD_PNG}"

    def _runs_dir(self) -> Path | None:
        """Where runs write their run dirs, when they run on this machine (not on Drone)."""
        executor = self.cfg.executor
        return executor.runs_dir if isinstance(executor, LocalExecutorConfig) else None

    def run_page(self, run_id: str) -> dict[str, object] | None:
        job = self.store.job_by_run_id(run_id)
        if job is None:
            return None
        runs_dir = self._runs_dir()
        return views.run_page(job, runs_dir / job.run_id if runs_dir is not None else None)

    # lifecycle

    def bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.cfg.webhook.host else socket.AF_INET
        # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose
        # proto says TCP; with proto 0, keep-alive responses stall ~40 ms on delayed ACKs.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.cfg.webhook.host, self.cfg.webhook.port))
        except OSError as err:
            sock.close()
            raise InfraError(
                f"bridge: cannot listen on {self.cfg.webhook.host}:{self.cfg.webhook.port}: {err.strerror}"
            ) from None
        host, port = sock.getsockname()[:2]
        self.bound_url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        if not self.cfg.public_url:
            self.base_url = self.bound_url
        return sock

    def start_workers(self) -> None:
        # Before any webhook is served: in webhook-only mode deliveries move the cursors.
        self.poller.save_cursors()
        self.outbox.start()
        self.dispatcher.start()
        self.intake.start()
        self.poller.start()
        if self.nightly is not None:
            self.nightly.start()

    def serve(self, sock: socket.socket) -> None:
        """Serve until SIGINT/SIGTERM (uvicorn handles them when called from the main thread)."""
        # log_config=None: uvicorn's own lines go through the bridge's handler (text or JSON).
        # Bounded: a request stuck on a page never holds the bridge past SIGTERM.
        self._server = bounded_server(
            self.app, log_level="warning", access_log=False, lifespan="off", log_config=None
        )
        self._server.run(sockets=[sock])

    def start_in_thread(self) -> str:
        """Start everything in background threads; returns the webhook URL. For tests and benchmarks."""
        sock = self.bind()
        self.start_workers()
        self._thread = threading.Thread(
            target=self.serve, args=(sock,), name="bridge-http", daemon=True
        )
        self._thread.start()
        while self._server is None or not self._server.started:
            if not self._thread.is_alive():
                raise InfraError("bridge: HTTP server did not start")
            threading.Event().wait(0.01)
        return f"{self.base_url}{self.cfg.webhook.path}"

    def stop(self, cancel_runs: bool = False) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.nightly is not None:
            self.nightly.stop()
        self.poller.stop()
        self.intake.stop()
        self.dispatcher.stop(cancel_runs=cancel_runs)
        self.outbox.stop()  # sends the replies intake just decided
        self.forge.close()
        for close in self._closers:
            close()
        self.store.close()
        self._lock_file.close()


def _lock_state_dir(cfg: BridgeConfig) -> IO[str]:
    # Two bridges on one state dir would run every job twice.
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    handle = open(cfg.state_dir / "bridge.lock", "w")  # noqa: SIM115 -- held open for the bridge's lifetime
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise InfraError(
            f"bridge: another bridge is using state dir {cfg.state_dir}; stop it first"
        ) from None
    return handle
