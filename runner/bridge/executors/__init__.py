"""Executors start a run for a job and wait for its outcome; one module per executor."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from runner.bridge.config import DroneExecutorConfig, LocalExecutorConfig
from runner.bridge.executors.base import Executor, Outcome, Started
from runner.bridge.retry import RetryPolicy

__all__ = ["Executor", "Outcome", "Started", "build_executor"]


def build_executor(
    cfg: LocalExecutorConfig | DroneExecutorConfig,
    state_dir: Path,
    policy: RetryPolicy,
    drone_token: SecretStr | None = None,
) -> Executor:
    if isinstance(cfg, LocalExecutorConfig):
        from runner.bridge.executors.local import LocalExecutor

        return LocalExecutor(cfg, log_dir=state_dir / "logs")
    from runner.bridge.executors.drone import DroneExecutor

    assert drone_token is not None
    return DroneExecutor(cfg, drone_token, policy)
