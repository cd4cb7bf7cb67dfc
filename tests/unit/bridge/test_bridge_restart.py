"""Runs survive the bridge: kill it (SIGKILL) with jobs queued and running, start it again,
and every job still runs and is reported. Nothing is dropped, nothing runs twice."""

from __future__ import annotations

import os
import signal

import pytest

from runner.bridge.executors.local import run_alive
from tests.unit.bridge.bridge_standins import StandinForge
from tests.unit.bridge.support import (
    FORGE_TOKEN,
    REPO,
    SHAS,
    WEBHOOK_SECRET,
    BridgeProcess,
    FakeRuns,
    StartBridge,
    queue_counts,
    wait_until,
)


def kill_bridge_with_one_running_and_two_queued(
    bridge: BridgeProcess, forge: StandinForge, fake_runs: FakeRuns
) -> None:
    fake_runs.hold()
    bridge.start()
    for number in SHAS:
        bridge.deliver_comment(forge, number)
    wait_until(
        lambda: queue_counts(bridge.health()) == {"ok": True, "queued": 2, "running": 1},
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
    bridge_proc: BridgeProcess, standin_forge: StandinForge, fake_runs: FakeRuns
) -> None:
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
    bridge_proc: BridgeProcess, standin_forge: StandinForge, fake_runs: FakeRuns
) -> None:
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
    # Intake evaluates the three comments in parallel: the run that died may be any PR's.
    assert sorted(int(r["PR"]) for r in runs) == sorted([1, 2, 3, int(orphan["PR"])])
    retried = [r["CCCI_RUN_ID"] for r in runs if r["PR"] == orphan["PR"]]
    assert retried == [orphan["CCCI_RUN_ID"], orphan["CCCI_RUN_ID"] + "-a2"]
    assert bridge_proc.job_states()[int(orphan["PR"])] == (
        "finished",
        orphan["CCCI_RUN_ID"] + "-a2",
        2,
    )
    edits = [call.body["body"] for call in standin_forge.calls_to("PATCH")]
    assert any("queued again as" in body for body in edits)  # the PR was told about the retry
    # Before the retry, gc was asked to reclaim the dead attempt's objects, and only those.
    (gc,) = fake_runs.gc_invocations()
    assert gc["argv"][:2] == ["--run", orphan["CCCI_RUN_ID"]]
    assert gc["CCCI_RUN_ID"] == orphan["CCCI_RUN_ID"]
    retry = next(r for r in runs if r["CCCI_RUN_ID"] == orphan["CCCI_RUN_ID"] + "-a2")
    assert gc["at"] < retry["at"]
    assert f"run {orphan['CCCI_RUN_ID']}: reclaimed what the interrupted run left" in bridge_proc.log.read_text()


def test_an_interrupted_run_out_of_attempts_is_marked_lost_and_reported(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
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
    assert [gc["argv"][:2] for gc in fake_runs.gc_invocations()] == [["--run", run["CCCI_RUN_ID"]]]


def test_an_interrupted_run_that_cannot_be_reclaimed_is_still_re_queued(
    start_bridge: StartBridge,
    fake_runs: FakeRuns,
    forge: StandinForge,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_runs.hold()
    first = start_bridge()
    first.comment("!testme")
    wait_until(lambda: fake_runs.invocations(), what="run to start")
    first.bridge.stop()  # leaves the job "running" in the store, as a crash would
    run = fake_runs.invocations()[0]
    os.kill(run["pid"], signal.SIGKILL)
    wait_until(lambda: not run_alive(run["pid"], run["CCCI_RUN_ID"]), what="the run to die")
    fake_runs.release()

    second = start_bridge(executor={"env": {"FAKE_GC_EXIT": "3"}})

    job = wait_until(lambda: [j for j in second.jobs() if j.reported], what="retry reported")[0]
    assert (job.state, job.verdict, job.run_id) == ("finished", "pass", run["CCCI_RUN_ID"] + "-a2")
    assert len(fake_runs.gc_invocations()) == 1
    assert f"run {run['CCCI_RUN_ID']}: could not reclaim what the interrupted run left" in caplog.text
