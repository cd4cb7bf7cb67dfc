"""A run killed together with its bridge leaves its app on the swarm; before the restarted bridge
re-queues the job it reclaims what the dead attempt left, through `cc-ci gc --run <run id>` (gc's
own remover, judged by the dead run's lock), not at the next manual gc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from runner.bridge.executors.local import run_alive
from tests.unit.bridge.bridge_standins import StandinForge
from tests.unit.bridge.support import (
    FORGE_TOKEN,
    MEMBER,
    ORG,
    REPO,
    SHAS,
    BridgeProcess,
    FakeRuns,
    config_data,
    free_port,
    wait_until,
)

pytestmark = pytest.mark.e2e


def secrets_of(run_id: str) -> list[str]:
    out = subprocess.run(["docker", "secret", "ls", "-q", "--filter", f"label=cc-ci.run={run_id}"],
                         check=True, capture_output=True, text=True).stdout
    return out.split()


# A gc as this host removes every run of this host that no process holds the lock of: these tests
# each leave such a run for their own gc to reclaim, so they run one after another.
@pytest.mark.one_at_a_time("own-host-gc")
def test_a_run_killed_with_its_bridge_is_reclaimed_before_its_job_is_re_queued(tmp_path):
    forge = StandinForge(FORGE_TOKEN)
    forge.server.start()
    forge.add_member(ORG, MEMBER)
    forge.add_pull(REPO, 1, SHAS[1])
    fake = FakeRuns(tmp_path / "fake-runs.jsonl", tmp_path / "hold", tmp_path / "runs")
    config = config_data(tmp_path, forge.url, fake, webhook={"port": free_port()},
                         executor={"gc_command": [sys.executable, "-m", "runner.cli", "gc"],
                                   "env": {"FAKE_RUN_LEAVE": "1"}})
    bridge = BridgeProcess(tmp_path, config)
    made: list[str] = []
    try:
        fake.hold()
        bridge.start()
        bridge.deliver_comment(forge, 1)
        run = wait_until(lambda: [r for r in fake.invocations() if "made" in r], timeout=30,
                         what="the run to make its app")[0]
        made.append(run["CCCI_RUN_ID"])
        assert secrets_of(run["CCCI_RUN_ID"]), "the run's object exists"
        bridge.kill()
        os.kill(run["pid"], signal.SIGKILL)  # the run dies with it, before its teardown
        wait_until(lambda: not run_alive(run["pid"], run["CCCI_RUN_ID"]), what="the run to die")
        fake.release()
        assert secrets_of(run["CCCI_RUN_ID"]), "the dead run left its object"

        bridge.start()

        wait_until(lambda: "passed" in " ".join(c["body"] for c in forge.bot_comments(REPO, 1)),
                   timeout=120, what="the retry to be reported")
        made.append(run["CCCI_RUN_ID"] + "-a2")
        assert secrets_of(run["CCCI_RUN_ID"]) == [], "the dead attempt's object was reclaimed"
        gc_output = (tmp_path / "state" / "logs" / f"{run['CCCI_RUN_ID']}.log").read_text()
        assert f"gc: removed {run['CCCI_RUN_ID']}_ccci_test (run {run['CCCI_RUN_ID']})" in gc_output
        assert secrets_of(run["CCCI_RUN_ID"] + "-a2") == []  # the retry tore its own down
    finally:
        bridge.stop()
        fake.release()
        forge.server.stop()
        for run_id in made:  # never leave a test's object on the shared swarm
            for secret in secrets_of(run_id):
                subprocess.run(["docker", "secret", "rm", secret], check=False, capture_output=True)
