"""Shared pieces of the bridge's tests: constants, waits, config builder, a bridge handle."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from runner.bridge.grammar import STAGES
from runner.bridge.service import Bridge
from runner.bridge.store import Job
from tests.unit.bridge.bridge_standins import StandinForge, sign

WEBHOOK_SECRET = "whsec-SENTINEL-7f3a9c"
FORGE_TOKEN = "forgetok-SENTINEL-51d2e8"
DRONE_TOKEN = "dronetok-SENTINEL-c0ffee"
# httpx loads certifi's CA bundle into a new SSL context for every client it makes (~30 ms of CPU),
# also for these tests' plain http://127.0.0.1: the polls of /healthz alone made hundreds. One
# context, made once (`verify=LOCAL_TLS`), is what each of them would have made.
LOCAL_TLS = httpx.create_ssl_context()
REPO = "coop-cloud/custom-html-tiny"
RECIPE = "custom-html-tiny"
ORG = "coop-cloud"
MEMBER = "alice"
HEAD = "1111111111111111111111111111111111111111"
FAKE_RUN = Path(__file__).with_name("fake_run.py")
FAKE_GC = Path(__file__).with_name("fake_gc.py")
SHAS = {1: "1" * 40, 2: "2" * 40, 3: "3" * 40}  # the PRs the bridge-process tests start with


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def queue_counts(health: dict[str, Any]) -> dict[str, Any]:
    """The queue part of /healthz (which carries more: version, outbox, forge errors)."""
    return {key: health[key] for key in ("ok", "queued", "running")}


def a_job(**changes: Any) -> Job:
    """A running job as the store would hand it to an executor."""
    fields: dict[str, Any] = dict(
        id=1,
        base_run_id="recipe-pr1-abcdef",
        run_id="recipe-pr1-abcdef",
        repo="o/r",
        recipe="recipe",
        pr=1,
        head_sha="c" * 40,
        stages=("install", "upgrade"),
        coalesce_key="k",
        delivery_key="d",
        requested_by="alice",
        state="running",
        attempt=1,
        verdict=None,
        summary=None,
        external_id=None,
        follow_url=None,
        report_comment_id=None,
        reported=False,
        received_at=0.0,
        queued_at=0.0,
        started_at=None,
        finished_at=None,
    )
    fields.update(changes)
    return Job(**fields)


@dataclass
class FakeRuns:
    log: Path
    hold_file: Path
    runs_dir: Path

    def hold(self) -> None:
        self.hold_file.touch()

    def release(self) -> None:
        self.hold_file.unlink(missing_ok=True)

    @property
    def gc_log(self) -> Path:
        return self.log.with_name(f"{self.log.stem}-gc.jsonl")

    def invocations(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def gc_invocations(self) -> list[dict[str, Any]]:
        """What the bridge asked `cc-ci gc` (the fake) to reclaim, in order."""
        if not self.gc_log.exists():
            return []
        return [json.loads(line) for line in self.gc_log.read_text().splitlines()]


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def config_data(tmp_path: Path, forge_url: str, fake: FakeRuns, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "forge": {"url": forge_url, "token": {"env": "BRIDGE_TEST_SECRET_FORGE"}},
        "webhook": {
            "secret": {"env": "BRIDGE_TEST_SECRET_WEBHOOK"},
            "host": "127.0.0.1",
            "port": 0,
            "max_body_bytes": 64 * 1024,
        },
        "repos": {REPO: RECIPE},
        # The fake run accepts every stage, so the grammar's full stage list can be exercised.
        "stages": list(STAGES),
        "allowlist": ["trusted-outsider"],
        "executor": {
            "kind": "local",
            "command": [sys.executable, str(FAKE_RUN)],
            "gc_command": [sys.executable, str(FAKE_GC)],
            "runs_dir": str(fake.runs_dir),
            "env": {"FAKE_RUN_LOG": str(fake.log), "FAKE_RUN_HOLD": str(fake.hold_file),
                    "FAKE_GC_LOG": str(fake.gc_log)},
        },
        "state_dir": str(tmp_path / "state"),
        "retry": {"attempts": 3, "base_seconds": 0.01, "max_seconds": 0.05},
    }
    return deep_merge(base, overrides)


@dataclass
class RunningBridge:
    bridge: Bridge
    url: str
    forge: StandinForge

    def deliver(
        self,
        payload: dict[str, Any] | bytes,
        *,
        secret: str = WEBHOOK_SECRET,
        event: str = "issue_comment",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        sent = {
            "Content-Type": "application/json",
            "X-Gitea-Event": event,
            "X-Gitea-Signature": sign(secret, body),
        }
        sent.update(headers or {})
        return httpx.post(self.url, content=body, headers=sent, timeout=10, verify=LOCAL_TLS)

    def comment(
        self, body: str, *, login: str = MEMBER, number: int = 1, repo: str = REPO
    ) -> httpx.Response:
        """A human comments on the forge and the forge delivers the webhook."""
        return self.deliver(
            self.forge.webhook_payload(self.forge.user_comment(repo, number, login, body))
        )

    def settle(self, timeout: float = 10.0) -> dict[str, str]:
        """Wait until every stored comment has been evaluated; returns key -> outcome."""
        store = self.bridge.store
        return wait_until(
            lambda: (o := store.inbox_outcomes()) and all(o.values()) and o or None,
            timeout,
            "intake to settle",
        )

    def jobs(self, state: str | None = None) -> list[Job]:
        return self.bridge.store.jobs(state)


# What the `start_bridge` fixture hands a test: start a bridge in a thread with config overrides.
StartBridge = Callable[..., RunningBridge]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BridgeProcess:
    """`cc-ci bridge --config …` as a real process, so that it can really be killed."""

    def __init__(self, tmp_path: Path, config: dict[str, Any]) -> None:
        self.config_path = tmp_path / "bridge.yml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.port = config["webhook"]["port"]
        self.base = f"http://127.0.0.1:{self.port}"
        self.db = Path(config["state_dir"]) / "bridge.sqlite3"
        self.log = tmp_path / "bridge.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> None:
        env = dict(
            os.environ,
            BRIDGE_TEST_SECRET_FORGE=FORGE_TOKEN,
            BRIDGE_TEST_SECRET_WEBHOOK=WEBHOOK_SECRET,
            BRIDGE_TEST_SECRET_DRONE=DRONE_TOKEN,
        )
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "runner.cli", "bridge", "--config", str(self.config_path)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if wait:
            wait_until(self._healthy, timeout=30, what=f"bridge to serve (log: {self.log})")

    def _healthy(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
        try:
            return httpx.get(f"{self.base}/healthz", timeout=1, verify=LOCAL_TLS).status_code == 200
        except httpx.HTTPError:
            return False

    def health(self) -> dict[str, Any]:
        return httpx.get(f"{self.base}/healthz", timeout=5, verify=LOCAL_TLS).json()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)

    def deliver_comment(
        self, forge: StandinForge, number: int, body: str = "!testme", login: str = MEMBER
    ) -> dict[str, Any]:
        """A member comments on the forge and the forge delivers the webhook; returns the comment."""
        comment = forge.user_comment(REPO, number, login, body)
        self.deliver_again(forge, comment)
        return comment

    def deliver_again(self, forge: StandinForge, comment: dict[str, Any]) -> None:
        """The forge (re)delivers the webhook of an existing comment."""
        raw = json.dumps(forge.webhook_payload(comment)).encode()
        headers = {
            "X-Gitea-Event": "issue_comment",
            "X-Gitea-Signature": sign(WEBHOOK_SECRET, raw),
            "Content-Type": "application/json",
        }
        response = httpx.post(f"{self.base}/webhook", content=raw, headers=headers, timeout=10, verify=LOCAL_TLS)
        assert response.status_code in (200, 202), response.text

    def job_states(self) -> dict[int, tuple[str, str, int]]:
        with sqlite3.connect(self.db) as db:
            return {
                pr: (state, run_id, attempt)
                for pr, state, run_id, attempt in db.execute(
                    "SELECT pr, state, run_id, attempt FROM jobs"
                )
            }
