"""`cc-ci bridge`: serve the !testme bridge (webhook + poller + queue + executor) until stopped."""

from __future__ import annotations

import argparse
import logging
import signal
from pathlib import Path
from types import FrameType

from runner.bridge.config import LocalExecutorConfig, load_config
from runner.bridge.environ import forget_env
from runner.bridge.executors.local import resolve_run_user
from runner.bridge.service import Bridge, load_secrets, secret_env_names

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
        "--check", action="store_true", help="validate the config and its secrets, then exit"
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )


class Terminated(Exception):
    """SIGTERM (systemd, `docker stop`): stop like SIGINT does."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    # uvicorn handles SIGTERM while it serves, stops, then raises the signal again: without this
    # handler that second SIGTERM killed the process before `bridge.stop()` could drain.
    raise Terminated


def _already_stopping(signum: int, frame: FrameType | None) -> None:
    log.info("bridge: already stopping (SIGKILL to stop at once)")


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request URL at INFO; URLs carry no secrets, but the noise drowns the bridge's own lines.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    cfg = load_config(args.config)
    secrets = load_secrets(cfg)
    if isinstance(cfg.executor, LocalExecutorConfig):
        resolve_run_user(cfg.executor.run_user)
    # Read once; from here on the secrets live only in SecretStr, not in our environment.
    forget_env(secret_env_names(cfg))
    if args.check:
        print(f"bridge config OK: {len(cfg.repos)} enrolled repo(s), executor {cfg.executor.kind}")
        return 0
    signal.signal(signal.SIGTERM, _terminate)
    bridge = Bridge(cfg, secrets)
    try:
        sock = bridge.bind()
        bridge.start_workers()
        polling = f"every {cfg.poll.interval_seconds:g}s" if cfg.poll.interval_seconds else "off"
        log.info(
            "bridge listening on %s%s (polling %s, executor %s x%d, %d enrolled repo(s))",
            bridge.base_url,
            cfg.webhook.path,
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
