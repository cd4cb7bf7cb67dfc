"""Runs survive the bridge: kill it (SIGKILL) with jobs queued and running, start it again,
and every job still runs and is reported. Nothing is dropped, nothing runs twice."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from runner.bridge.executors.local import run_alive
from tests.unit.bridge.bridge_standins import StandinForge, sign
from tests.unit.bridge.support import (
    DRONE_TOKEN,
    FORGE_TOKEN,
    MEMBER,
    REPO,
    WEBHOOK_SECRET,
    config_data,
    wait_until,
)

SHAS = {1: "1" * 40, 2: "2" * 40, 3: "3" * 40}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BridgeProcess:
    """`cc-ci bridge --config …` as a real process, so that it can really be killed."""

    def __init__(self, tmp_path: Path, config: dict) -> None:
        self.config_path = tmp_path / "bridge.yml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.port = config["webhook"]["port"]
        self.base = f"http://127.0.0.1:{self.port}"
        self.db = Path(config["state_dir"]) / "bridge.sqlite3"
        self.log = tmp_path / "bridge.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
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
        wait_until(self._healthy, timeout=30, what=f"bridge to serve (log: {self.log})")

    def _healthy(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
        try:
            return httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def health(self) -> dict:
        return httpx.get(f"{self.base}/healthz", timeout=5).json()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)

    def deliver_comment(self, forge: StandinForge, number: int) -> None:
        body = json.dumps(
            forge.webhook_payload(forge.user_comment(REPO, number, MEMBER, "!testme"))
        ).encode()
        headers = {
            "X-Gitea-Event": "issue_comment",
            "X-Gitea-Signature": sign(WEBHOOK_SECRET, body),
            "Content-Type": "application/json",
        }
        assert (
            httpx.post(
                f"{self.base}/webhook", content=body, headers=headers, timeout=10
            ).status_code
            == 202
        )

    def job_states(self) -> dict[int, tuple[str, str, int]]:
        with sqlite3.connect(self.db) as db:
            return {
                pr: (state, run_id, attempt)
                for pr, state, run_id, attempt in db.execute(
                    "SELECT pr, state, run_id, attempt FROM jobs"
                )
            }


@pytest.fixture
def standin_forge() -> Iterator[StandinForge]:
    forge = StandinForge(FORGE_TOKEN)
    forge.server.start()
    forge.add_member("coop-cloud", MEMBER)
    for number, sha in SHAS.items():
        forge.add_pull(REPO, number, sha)
    yield forge
    forge.server.stop()


@pytest.fixture
def bridge_proc(tmp_path, standin_forge, fake_runs) -> Iterator[BridgeProcess]:
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


def kill_bridge_with_one_running_and_two_queued(
    bridge: BridgeProcess, forge: StandinForge, fake_runs
) -> None:
    fake_runs.hold()
    bridge.start()
    for number in SHAS:
        bridge.deliver_comment(forge, number)
    wait_until(
        lambda: bridge.health() == {"ok": True, "queued": 2, "running": 1},
        what="1 running + 2 queued",
    )
    wait_until(lambda: len(fake_runs.invocations()) == 1, what="first run to start")
    bridge.kill()
    assert sorted(state for state, _, _ in bridge.job_states().values()) == [
        "queued",
        "queued",
        "running",
    ]


def all_reported_passed(forge: StandinForge) -> bool:
    done = 0
    for number, sha in SHAS.items():
        comments = forge.bot_comments(REPO, number)
        statuses = forge.statuses_for(sha)
        done += bool(
            comments
            and "passed" in comments[0]["body"]
            and statuses
            and statuses[-1]["state"] == "success"
        )
    return done == len(SHAS)


def test_queued_jobs_run_after_a_kill_and_the_running_one_is_re_attached(
    bridge_proc, standin_forge, fake_runs
):
    kill_bridge_with_one_running_and_two_queued(bridge_proc, standin_forge, fake_runs)
    orphan = fake_runs.invocations()[0]

    bridge_proc.start()  # the orphaned run is still going: the new bridge re-attaches to its pid
    fake_runs.release()

    wait_until(
        lambda: all_reported_passed(standin_forge), timeout=30, what="all three runs reported"
    )
    runs = fake_runs.invocations()
    assert sorted(int(r["PR"]) for r in runs) == [1, 2, 3], "each job ran exactly once"
    assert runs[0]["CCCI_RUN_ID"] == orphan["CCCI_RUN_ID"]
    assert all(state == "finished" for state, _, _ in bridge_proc.job_states().values())
    assert all(len(standin_forge.bot_comments(REPO, n)) == 1 for n in SHAS)
    log = bridge_proc.log.read_text()
    assert "re-attaching" in log
    assert FORGE_TOKEN not in log and WEBHOOK_SECRET not in log


def test_a_run_that_died_with_the_bridge_is_re_queued_under_a_new_run_id(
    bridge_proc, standin_forge, fake_runs
):
    kill_bridge_with_one_running_and_two_queued(bridge_proc, standin_forge, fake_runs)
    orphan = fake_runs.invocations()[0]
    os.kill(orphan["pid"], signal.SIGKILL)  # the run died too (e.g. the machine rebooted)
    # SIGKILL is delivered asynchronously: a bridge started while the run is still dying would
    # rightly re-attach to it and report it as errored, not re-queue it.
    wait_until(lambda: not run_alive(orphan["pid"], orphan["CCCI_RUN_ID"]), what="the run to die")
    fake_runs.release()

    bridge_proc.start()

    wait_until(
        lambda: all_reported_passed(standin_forge), timeout=30, what="all three runs reported"
    )
    runs = fake_runs.invocations()
    assert sorted(int(r["PR"]) for r in runs) == [1, 1, 2, 3]
    retried = [r["CCCI_RUN_ID"] for r in runs if r["PR"] == orphan["PR"]]
    assert retried == [orphan["CCCI_RUN_ID"], orphan["CCCI_RUN_ID"] + "-a2"]
    assert bridge_proc.job_states()[int(orphan["PR"])] == (
        "finished",
        orphan["CCCI_RUN_ID"] + "-a2",
        2,
    )
    edits = [call.body["body"] for call in standin_forge.calls_to("PATCH")]
    assert any("queued again as" in body for body in edits)  # the PR was told about the retry


def test_an_interrupted_run_out_of_attempts_is_marked_lost_and_reported(
    start_bridge, fake_runs, forge
):
    fake_runs.hold()
    first = start_bridge(max_attempts=1)
    first.comment("!testme")
    wait_until(lambda: fake_runs.invocations(), what="run to start")
    first.bridge.stop()  # leaves the job "running" in the store, as a crash would
    run = fake_runs.invocations()[0]
    os.kill(run["pid"], signal.SIGKILL)
    wait_until(lambda: not run_alive(run["pid"], run["CCCI_RUN_ID"]), what="the run to die")

    second = start_bridge(max_attempts=1)

    job = wait_until(lambda: [j for j in second.jobs() if j.reported], what="lost run reported")[0]
    assert (job.state, job.verdict) == ("lost", "error")
    assert "was lost" in forge.bot_comments(REPO, 1)[0]["body"]
    assert forge.statuses_for(job.head_sha)[-1]["state"] == "error"
    assert len(fake_runs.invocations()) == 1
