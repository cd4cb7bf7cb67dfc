"""gc on a swarm two harness hosts share, on the real engine: host B's live run (its heartbeat
beating) and killed run (its stamp left behind, SIGKILL-style) and host A's own live and killed
runs. gc as A never removes B's live run, removes B's killed one only once its stamp is past the
TTL (exactly TTL old: kept), and judges its own runs by their lock."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.plumbing.paths import REPO_ROOT
from runner.run.runlock import run_lock
from runner.swarm.gc import FoundRun, find_runs
from runner.swarm.stack import OWNER_STACK_LABEL, remove_stack, run_labels
from runner.swarm.stamp import Heartbeat
from runner.targets.local import LocalTarget

A, B = "ci-a-e2e", "ci-b-e2e"


def _secret(target: LocalTarget, stack: str, run_id: str, run_dir: Path, host: str) -> None:
    target.client.secrets.create(name=f"{stack}_token_v1", data=b"x",
                                 labels={OWNER_STACK_LABEL: stack} | run_labels(run_id, str(run_dir), host))


def _gc(runs: Path, host: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "runner.cli", "gc", "--runs-dir", str(runs), *args], cwd=REPO_ROOT,
                          env=os.environ | {"CCCI_HOST_ID": host}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stderr


@pytest.fixture
def target() -> Iterator[LocalTarget]:
    local = LocalTarget()
    yield local
    local.close()


# As host A with a 3 s TTL, gc removes every other host's run whose heartbeat (every 30 s) is older:
# the suite's own runs beside it would be such runs.
@pytest.mark.alone
def test_gc_as_one_host_spares_the_others_live_run_and_reclaims_its_killed_one_past_the_ttl(
    target: LocalTarget, tmp_path: Path
) -> None:
    tag = secrets.token_hex(3)
    stacks = {name: f"gc{tag}-{name}_ccci_test" for name in ("b-live", "b-killed", "a-live", "a-killed")}
    runs = tmp_path / "runs"
    dirs = {name: runs / f"run-{name}" for name in stacks}
    for d in dirs.values():
        d.mkdir(parents=True)
    try:
        # B's killed run: stamped once, then its process died (no teardown, no more beats)
        Heartbeat(target.client, stacks["b-killed"], "run-b-killed", "/b/runs/run-b-killed", B).beat()
        _secret(target, stacks["b-killed"], "run-b-killed", Path("/b/runs/run-b-killed"), B)
        killed_at = time.monotonic()
        _secret(target, stacks["a-killed"], "run-a-killed", dirs["a-killed"], A)  # no lock held: dead
        _secret(target, stacks["a-live"], "run-a-live", dirs["a-live"], A)
        with run_lock(dirs["a-live"]), \
                Heartbeat(target.client, stacks["b-live"], "run-b-live", "/b/runs/run-b-live", B, every_s=0.5):
            _secret(target, stacks["b-live"], "run-b-live", Path("/b/runs/run-b-live"), B)
            ours = {r.stack: r for r in find_runs(target.client) if r.stack in stacks.values()}
            assert {r.host for r in ours.values()} == {A, B} and ours[stacks["b-killed"]].stamp is not None

            # the exact boundary, on the real stamp with the clock injected
            killed: FoundRun = ours[stacks["b-killed"]]
            from runner.commands.gc import judge_runs
            assert killed.stamp is not None
            at_ttl = {j.run.stack: j.remove for j in judge_runs(target, A, runs, 3.0, now=killed.stamp + 3.0)}
            past = {j.run.stack: j.remove for j in judge_runs(target, A, runs, 3.0, now=killed.stamp + 3.001)}
            assert at_ttl[stacks["b-killed"]] is False and past[stacks["b-killed"]] is True

            # for real: wait until the killed stamp is past a 3 s TTL while the live one keeps beating
            time.sleep(max(0.0, 4.0 - (time.monotonic() - killed_at)))
            dry = _gc(runs, A, "--ttl", "3", "--dry-run")
            assert f"would remove {stacks['b-killed']} (run run-b-killed): host {B}'s heartbeat is" in dry
            assert f"keeps {stacks['b-live']} (run run-b-live): host {B}'s heartbeat is" in dry
            assert f"would remove {stacks['a-killed']} (run run-a-killed): no run holds the lock" in dry
            assert f"keeps {stacks['a-live']} (run run-a-live): its run holds the lock" in dry
            assert {r.stack for r in find_runs(target.client)} >= set(stacks.values()), "a dry run removes nothing"

            said = _gc(runs, A, "--ttl", "3")
            left = {r.stack for r in find_runs(target.client)}
            assert stacks["b-live"] in left and stacks["a-live"] in left
            assert stacks["b-killed"] not in left and stacks["a-killed"] not in left
            assert f"removed {stacks['b-killed']}" in said

            # gc as B: A's live run is foreign to it, and its secret has no stamp but is fresh
            assert stacks["a-live"] in {line.split()[2] for line in _gc(runs, B, "--ttl", "600", "--dry-run").splitlines()
                                        if line.startswith("gc: keeps")}
    finally:
        for stack in stacks.values():
            remove_stack(target.client, stack)
