"""`cc-ci bridge`: serve the !testme bridge (webhook + poller + queue + executor) until stopped."""

from __future__ import annotations

import argparse
import logging
import signal
from pathlib import Path
from types import FrameType

from runner.bridge.config import (
    BridgeConfig,
    DroneExecutorConfig,
    LocalExecutorConfig,
    load_config,
)
from runner.bridge.environ import forget_env
from runner.bridge.executors.drone import DroneExecutor
from runner.bridge.executors.local import resolve_run_user
from runner.bridge.forge.client import ForgeClient
from runner.bridge.logs import configure as configure_logging
from runner.bridge.preflight import exit_code, run_checks
from runner.bridge.retry import RetryPolicy
from runner.bridge.service import Bridge, BridgeSecrets, load_secrets, secret_env_names

log = logging.getLogger("cc-ci.bridge")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        "-c",
        type=Path,
        required=True,
        help="bridge config file (YAML); see docs/bridge.md",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="check the config (with `nightly:`, its catalogue file), its secrets, the forge token (one API call), each enrolled repo "
        "(there, statuses writable, org members visible to the bot, refs/pull published), the "
        "state dir, and the executor: local, the run command (naming the real path the run user "
        "cannot pass), workdir, run user and runs dir; drone, the Drone token and repo (two API "
        "calls); one line each, then exit with the first failure's code (10-24, see docs/bridge.md)",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        default=None,
        help="text, or one JSON object per line (default: the config's log_format, else text)",
    )


class Terminated(Exception):
    """SIGTERM (systemd, `docker stop`): stop like SIGINT does."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    # uvicorn handles SIGTERM while it serves, stops, then raises the signal again: without this
    # handler that second SIGTERM killed the process before `bridge.stop()` could drain.
    raise Terminated


def _already_stopping(signum: int, frame: FrameType | None) -> None:
    log.info("bridge: already stopping (SIGKILL to stop at once)")


def check(cfg: BridgeConfig, secrets: BridgeSecrets) -> int:
    """`--check`: one line per check on stdout; the first failure's exit code."""
    once = RetryPolicy(attempts=1)
    forge = ForgeClient(cfg.forge.url, secrets.forge_token, once)
    drone = None
    if isinstance(cfg.executor, DroneExecutorConfig):
        assert secrets.drone_token is not None
        drone = DroneExecutor(cfg.executor, secrets.drone_token, once)
    try:
        findings = run_checks(cfg, forge, drone)
    finally:
        forge.close()
        if drone is not None:
            drone.close()
    for finding in findings:
        print(finding)
    code = exit_code(findings)
    if code == 0:
        print(f"bridge config OK: {len(cfg.repos)} enrolled repo(s), executor {cfg.executor.kind}")
    return code


def main(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    configure_logging(args.log_level, args.log_format or cfg.log_format)
    secrets = load_secrets(cfg)
    if isinstance(cfg.executor, LocalExecutorConfig):
        resolve_run_user(cfg.executor.run_user)
    # Read once; from here on the secrets live only in SecretStr, not in our environment.
    forget_env(secret_env_names(cfg))
    if args.check:
        return check(cfg, secrets)
    signal.signal(signal.SIGTERM, _terminate)
    bridge = Bridge(cfg, secrets)
    try:
        sock = bridge.bind()
        bridge.start_workers()
        polling = f"every {cfg.poll.interval_seconds:g}s" if cfg.poll.interval_seconds else "off"
        log.info(
            "bridge listening on %s (webhook %s; public URL %s; polling %s, catch-up on start; "
            "executor %s x%d; %d enrolled repo(s))",
            bridge.bound_url,
            cfg.webhook.path,
            cfg.public_url or "not set, run links use the listening address",
            polling,
            cfg.executor.kind,
            cfg.executor.capacity,
            len(cfg.repos),
        )
        bridge.serve(sock)
    except (Terminated, KeyboardInterrupt):
        pass
    finally:
        signal.signal(signal.SIGTERM, _already_stopping)
        log.info("bridge stopping: evaluating stored comments and sending their replies")
        bridge.stop()
        log.info("bridge stopped; running jobs are re-attached or re-queued on the next start")
    return 0
