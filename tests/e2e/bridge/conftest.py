"""What the bridge's e2e tests share: a stand-in forge with one member, and a bridge configured
as an operator would (local executor running the real `run_recipe_ci` on the local swarm)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.bridge.config import REPO_ROOT, BridgeConfig
from tests.unit.bridge.bridge_standins import StandinForge
from tests.unit.bridge.support import FORGE_TOKEN, MEMBER, ORG, REPO, WEBHOOK_SECRET

SUITE_DOMAIN_BASE = "ccci.test"  # the e2e suite's leftover check looks for this domain base


@pytest.fixture
def forge() -> Iterator[StandinForge]:
    server = StandinForge(FORGE_TOKEN)
    server.server.start()
    server.add_member(ORG, MEMBER)
    yield server
    server.server.stop()


@pytest.fixture
def bridge_config(tmp_path: Path, forge: StandinForge, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`bridge_config(name, run_env, timeout_seconds=900)`: webhook-only, the repo enrolled as
    `name`, runs in `tmp_path/runs` with the suite's domain base and `run_env`."""
    monkeypatch.setenv("BRIDGE_TEST_SECRET_FORGE", FORGE_TOKEN)
    monkeypatch.setenv("BRIDGE_TEST_SECRET_WEBHOOK", WEBHOOK_SECRET)

    def make(name: str, run_env: dict[str, str], timeout_seconds: int = 900) -> BridgeConfig:
        return BridgeConfig.model_validate({
            "forge": {"url": forge.url, "token": {"env": "BRIDGE_TEST_SECRET_FORGE"}},
            "webhook": {"secret": {"env": "BRIDGE_TEST_SECRET_WEBHOOK"}, "port": 0},
            "repos": {REPO: name},  # no `poll:`: webhook-only mode
            "executor": {
                "kind": "local",
                "command": [sys.executable, "-m", "runner.run_recipe_ci"],
                "workdir": str(REPO_ROOT),
                "runs_dir": str(tmp_path / "runs"),
                "timeout_seconds": timeout_seconds,
                "env": {"CCCI_DOMAIN_BASE": SUITE_DOMAIN_BASE, **run_env},
            },
            "state_dir": str(tmp_path / "state"),
            "retry": {"attempts": 3, "base_seconds": 0.1, "max_seconds": 1},
        })
    return make
