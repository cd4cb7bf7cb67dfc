"""Fixtures for the bridge's tests: stand-in forge and Drone, fake run command, a bridge in a thread."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.bridge.config import BridgeConfig
from runner.bridge.service import Bridge, load_secrets
from tests.unit.bridge.bridge_standins import StandinDrone, StandinForge
from tests.unit.bridge.support import (
    DRONE_TOKEN,
    FORGE_TOKEN,
    HEAD,
    MEMBER,
    ORG,
    REPO,
    SHAS,
    WEBHOOK_SECRET,
    BridgeProcess,
    FakeRuns,
    RunningBridge,
    StartBridge,
    config_data,
    free_port,
)


@pytest.fixture
def forge() -> Iterator[StandinForge]:
    server = StandinForge(FORGE_TOKEN)
    server.server.start()
    server.add_member(ORG, MEMBER)
    server.add_pull(REPO, 1, HEAD)
    yield server
    server.server.stop(wait=False)


@pytest.fixture
def drone() -> Iterator[StandinDrone]:
    server = StandinDrone(DRONE_TOKEN)
    server.server.start()
    yield server
    server.server.stop(wait=False)


@pytest.fixture
def fake_runs(tmp_path: Path) -> FakeRuns:
    return FakeRuns(tmp_path / "fake-runs.jsonl", tmp_path / "hold", tmp_path / "runs")


@pytest.fixture
def bridge_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_TEST_SECRET_FORGE", FORGE_TOKEN)
    monkeypatch.setenv("BRIDGE_TEST_SECRET_WEBHOOK", WEBHOOK_SECRET)
    monkeypatch.setenv("BRIDGE_TEST_SECRET_DRONE", DRONE_TOKEN)


@pytest.fixture
def start_bridge(
    tmp_path: Path, forge: StandinForge, fake_runs: FakeRuns, bridge_env: None
) -> Iterator[StartBridge]:
    started: list[Bridge] = []

    def start(executor_config: dict[str, Any] | None = None, **overrides: Any) -> RunningBridge:
        data = config_data(tmp_path, forge.url, fake_runs, **overrides)
        if executor_config is not None:
            data["executor"] = executor_config
        cfg = BridgeConfig.model_validate(data)
        bridge = Bridge(cfg, load_secrets(cfg))
        started.append(bridge)
        return RunningBridge(bridge, bridge.start_in_thread(), forge)

    yield start
    fake_runs.release()
    for bridge in started:
        bridge.stop(cancel_runs=True)


@pytest.fixture
def standin_forge() -> Iterator[StandinForge]:
    forge = StandinForge(FORGE_TOKEN)
    forge.server.start()
    forge.add_member(ORG, MEMBER)
    for number, sha in SHAS.items():
        forge.add_pull(REPO, number, sha)
    yield forge
    forge.server.stop(wait=False)


@pytest.fixture
def bridge_proc(
    tmp_path: Path, standin_forge: StandinForge, fake_runs: FakeRuns
) -> Iterator[BridgeProcess]:
    config = config_data(tmp_path, standin_forge.url, fake_runs, webhook={"port": free_port()})
    proc = BridgeProcess(tmp_path, config)
    yield proc
    proc.stop()
    fake_runs.release()
    for inv in fake_runs.invocations():  # no fake run outlives its test
        try:
            os.kill(inv["pid"], signal.SIGKILL)
        except ProcessLookupError:
            pass
