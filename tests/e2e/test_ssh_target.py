"""The SSH target end to end: an sshd on loopback in front of this machine's engine is the
"remote" swarm manager. One full five-stage run goes through it with the run's own route to the
node's docker_gwbridge refused (so its HTTP assertions went through the SSH channel); the
refusals (unknown host key, changed key, wrong identity, unreachable host) are cheap runs that
stop before anything exists."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import pytest
import requests

from runner.errors import BadInput, InfraError
from runner.plumbing.paths import REPO_ROOT
from runner.recipe import naming
from runner.run.config import TargetSettings
from runner.swarm.gc import parse_time
from runner.swarm.stack import OWNER_STACK_LABEL, STACK_LABEL, remove_stack, run_labels
from runner.targets import gateway_subnets, open_target
from runner.targets.guard import allow_local_reach, refuse_local_reach
from runner.targets.local import LocalTarget
from runner.targets.ssh import SshTarget
from tests.e2e.conftest import SUITE_DOMAIN_BASE
from tests.e2e.sshd import SSHD, Sshd, descendants, free_port, keygen, loopback_sshd
from tests.e2e.support import RunOutcome, asked, suite_objects

pytestmark = pytest.mark.skipif(not SSHD.exists(), reason="no /usr/sbin/sshd (scripts/bootstrap installs openssh-server)")

FIVE = "install,upgrade,backup,restore,custom"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    with loopback_sshd(tmp_path_factory.mktemp("sshd")) as running:
        yield running


def test_a_full_run_over_ssh_passes_with_the_local_gwbridge_route_refused(
    sshd: Sshd, run_ci: Callable[..., RunOutcome]
) -> None:
    done = run_ci(RECIPE="custom-html-tiny", STAGES=FIVE, CCCI_TEST_REFUSE_LOCAL_REACH="1", **sshd.env())
    assert done.returncode == 0, done.stderr[-3000:]
    results = done.results
    assert [(t["op"], t["verdict"]) for t in asked(results)] == [(op, "pass") for op in FIVE.split(",")]
    assert results["teardown_leftovers"] == [] and results["deploy_count"] == 1
    (run_dir,) = done.run_dirs
    description = (run_dir / "run.json").read_text()
    assert '"kind": "forwarded"' in description and sshd.url in description and '"refuse_local_reach"' in description
    assert "Accepted publickey for root" in sshd.log.read_text()


def test_the_switch_refuses_this_processs_route_to_the_gwbridge() -> None:
    """What the full run above relies on: with the switch on, a connection from the harness to a
    docker_gwbridge address is refused (a local-target run cannot reach its app at all)."""
    target = LocalTarget()
    subnets = gateway_subnets(target)
    gateway = subnets[0].split("/")[0].rsplit(".", 1)[0] + ".1"
    refuse_local_reach(subnets)
    try:
        with pytest.raises(ConnectionRefusedError, match="local route .* refused for this run"):
            socket.create_connection((gateway, 80), timeout=2)
    finally:
        allow_local_reach()
        target.close()


def _refused(run_ci: Callable[..., RunOutcome], **env: str) -> tuple[RunOutcome, str]:
    run_id = f"ssh-refused-{secrets.token_hex(4)}"
    stack = naming.stack_name(naming.app_domain("custom-html-tiny", run_id, SUITE_DOMAIN_BASE))
    done = run_ci(RECIPE="custom-html-tiny", STAGES="install", CCCI_RUN_ID=run_id, **env)
    assert [o for o in suite_objects() if o.split(" ", 1)[1].startswith(stack)] == [], "nothing is deployed"
    assert done.run_dirs == [], "no run dir is left"
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr[-2000:]
    return done, lines[-1]


def _fingerprint(public_key: Path) -> str:
    import paramiko

    return str(paramiko.PKey.from_path(public_key.with_suffix("")).fingerprint)


def test_an_unknown_host_key_is_refused_naming_the_host_and_its_fingerprint(
    sshd: Sshd, run_ci: Callable[..., RunOutcome], tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    _, line = _refused(run_ci, **sshd.env() | {"CCCI_SSH_KNOWN_HOSTS": str(empty)})
    assert f"[127.0.0.1]:{sshd.port} is not in {empty}" in line
    assert _fingerprint(sshd.host_key.with_suffix(".pub")) in line


def test_a_changed_host_key_is_refused_naming_both_fingerprints(
    sshd: Sshd, run_ci: Callable[..., RunOutcome], tmp_path: Path
) -> None:
    other = keygen(tmp_path / "other_host_key")
    known = tmp_path / "known_hosts"
    kind, blob = other.with_suffix(".pub").read_text().split()[:2]
    known.write_text(f"[127.0.0.1]:{sshd.port} {kind} {blob}\n")
    _, line = _refused(run_ci, **sshd.env() | {"CCCI_SSH_KNOWN_HOSTS": str(known)})
    assert "the host key changed" in line and f"[127.0.0.1]:{sshd.port}" in line
    assert _fingerprint(sshd.host_key.with_suffix(".pub")) in line and _fingerprint(other.with_suffix(".pub")) in line


def test_a_wrong_identity_is_refused_naming_the_key(
    sshd: Sshd, run_ci: Callable[..., RunOutcome], tmp_path: Path
) -> None:
    stranger = keygen(tmp_path / "stranger")
    _, line = _refused(run_ci, **sshd.env() | {"CCCI_SSH_KEY": str(stranger)})
    assert f"{sshd.url} refused the key {stranger}" in line


def test_an_unreachable_host_is_refused_saying_why(run_ci: Callable[..., RunOutcome], sshd: Sshd) -> None:
    port = free_port()  # nothing listens there
    _, line = _refused(run_ci, **sshd.env() | {"CCCI_DOCKER_HOST": f"ssh://root@127.0.0.1:{port}"})
    assert f"cannot reach ssh://root@127.0.0.1:{port}" in line and "refused" in line.lower()


def test_connections_are_reused_and_a_dropped_link_is_reconnected_within_its_bound_else_the_use_fails(
    sshd: Sshd
) -> None:
    target = open_target(TargetSettings(docker_host=sshd.url, ssh_key=sshd.key, ssh_known_hosts=sshd.known_hosts))
    assert isinstance(target, SshTarget)
    link = target.connection.link
    try:
        target.client.ping()
        target.client.services.list()
        assert target.connection.connects == 1
        for client in link.clients():
            client.get_transport().close()
        target.client.ping()
        assert target.connection.connects == 2
        for client in link.clients():
            client.get_transport().close()
        link.reconnect_s = 1.5
        target.connection.address = type(target.ssh)("root", "127.0.0.1", free_port())  # now unreachable
        started = time.monotonic()
        with pytest.raises(InfraError, match=r"the SSH link to ssh://root@127\.0\.0\.1:\d+ is lost: no connection "
                           r"within 2s \(\d+ attempts; last: cannot reach .*refused"):
            target.client.ping()
        assert time.monotonic() - started < 10, "bounded: one outage costs one bound, not one per retry"
    finally:
        target.close()


def test_a_stock_sshd_serves_more_simultaneous_channel_users_than_its_max_sessions(sshd: Sshd) -> None:
    """24 users at once, as a run's are: host commands holding their session a second (exec, file
    transfer), the run's own engine calls (convergence polling), tier processes' engine clients
    through the forwarder (each its own session), and HTTP channels (the camera, the reach
    proxy). The link spreads the sessions over connections under MaxSessions (10)."""
    target = open_target(TargetSettings(docker_host=sshd.url, ssh_key=sshd.key, ssh_known_hosts=sshd.known_hosts))
    assert isinstance(target, SshTarget)
    try:
        def host_command(i: int) -> str:
            result = target.run_on_node(["sh", "-c", f"sleep 1; echo user-{i}"])
            assert result.succeeded, result.stderr
            return result.stdout.strip()

        def engine_call(_: int) -> str:
            return str(target.client.api.version()["ApiVersion"])

        def tier_process_client(_: int) -> str:
            api = docker.APIClient(base_url=f"unix://{target.forwarder.docker_socket}", version="1.41", timeout=30)
            try:
                return str(api.version()["ApiVersion"])
            finally:
                api.close()

        def http_channel(_: int) -> str:  # to the node's sshd itself: its banner is the answer
            channel = target.connection.tcp_channel("127.0.0.1", sshd.port, 10)
            with channel:
                return channel.recv(64).decode().split("-")[0]

        with ThreadPoolExecutor(max_workers=24) as pool:
            held = pool.map(host_command, range(8))
            answers = [*pool.map(engine_call, range(6)), *pool.map(tier_process_client, range(6))]
            banners = list(pool.map(http_channel, range(4)))
            assert sorted(held) == [f"user-{i}" for i in range(8)]
        assert len(answers) == 12 and all(answers) and banners == ["SSH"] * 4
        # sshd may still refuse one now and then (it counts a closed session until its command
        # exits): the link took another connection for it, and every user above got its answer
        assert 2 <= target.connection.connects <= 5, target.connection.connects
    finally:
        target.close()


ENGINE_SWITCH = """#!/bin/sh
# the engine "restarting": while {down} exists, `docker system dial-stdio` fails as it does then
if [ -e {down} ] && [ "$SSH_ORIGINAL_COMMAND" = "docker system dial-stdio" ]; then
  echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2
  exit 1
fi
exec sh -c "$SSH_ORIGINAL_COMMAND"
"""


def _engine_goes_down(sshd: Sshd, down: Path) -> None:
    """As dockerd stopping looks from the SSH side: the engine connections open now end (their
    `docker system dial-stdio` exits) and new ones fail, until `down` is removed."""
    down.touch()
    assert sshd.process is not None
    for pid in descendants(sshd.process.pid):
        with contextlib.suppress(OSError):
            if b"dial-stdio" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)


def test_an_engine_that_stops_answering_for_a_few_seconds_is_waited_for_past_that_an_error_names_the_link(
    tmp_path_factory: pytest.TempPathFactory
) -> None:
    directory = tmp_path_factory.mktemp("engine-sshd")
    down, switch = directory / "engine-down", directory / "engine-switch"
    switch.write_text(ENGINE_SWITCH.format(down=down))
    switch.chmod(0o755)
    with loopback_sshd(directory, extra=(f"ForceCommand {switch}",)) as sshd:
        target = open_target(TargetSettings(docker_host=sshd.url, ssh_key=sshd.key, ssh_known_hosts=sshd.known_hosts))
        try:
            assert isinstance(target.client.api.services(), list)
            _engine_goes_down(sshd, down)
            threading.Timer(4, down.unlink).start()
            started = time.monotonic()
            assert isinstance(target.client.api.services(), list)  # asked again until it answered
            assert 4 <= time.monotonic() - started < 20

            _engine_goes_down(sshd, down)
            started = time.monotonic()
            with pytest.raises(requests.exceptions.ConnectionError,
                               match=rf"the SSH link to {sshd.url} or the engine behind it went away during GET "
                                     r"/v[\d.]+/services"):
                target.client.api.services()
            assert 15 < time.monotonic() - started < 60
        finally:
            down.unlink(missing_ok=True)
            target.close()


def test_a_bad_docker_host_is_bad_input() -> None:
    with pytest.raises(BadInput, match="neither `local` nor ssh://user@host"):
        TargetSettings.from_env({"CCCI_DOCKER_HOST": "tcp://10.0.0.1:2375"})


# -- a cut link ------------------------------------------------------------------------------------


@pytest.fixture
def own_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """An sshd of the test's own, to kill and bring back."""
    with loopback_sshd(tmp_path_factory.mktemp("own-sshd")) as running:
        yield running


def _wait_for_line(path: Path, pattern: str, process: subprocess.Popen[str], timeout_s: float) -> str:
    """The first line of `path` (a process's output, as it is written) that `pattern` finds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        lines = path.read_text().splitlines() if path.exists() else []
        found = next((line for line in lines if re.search(pattern, line)), None)
        if found:
            return found
        assert process.poll() is None, f"it ended before {pattern!r}: {path.read_text()[-3000:]}"
        time.sleep(0.1)
    raise AssertionError(f"no {pattern!r} within {timeout_s}s: {path.read_text()[-3000:]}")


def test_a_link_cut_right_after_the_install_tier_is_survived_or_reported_and_leaves_nothing(
    own_sshd: Sshd, tmp_path: Path
) -> None:
    """sshd and every session of the run are killed the moment the install tier's verdict is
    printed, and sshd is back 3 s later: the run passes or errors, and nothing of it is left
    (no gc run)."""
    run_id = f"ssh-cut-{secrets.token_hex(4)}"
    stack = naming.stack_name(naming.app_domain("custom-html-tiny", run_id, SUITE_DOMAIN_BASE))
    console = tmp_path / "console.log"
    env = {k: v for k, v in os.environ.items() if k not in ("RECIPE", "REF", "PR", "STAGES", "VERSION")}
    env |= {"CCCI_RUNS_DIR": str(tmp_path / "runs"), "CCCI_DOMAIN_BASE": SUITE_DOMAIN_BASE, "RECIPE": "custom-html-tiny",
            "STAGES": FIVE, "CCCI_RUN_ID": run_id, **own_sshd.env()}
    with console.open("w") as out:
        run = subprocess.Popen([sys.executable, "-m", "runner.run_recipe_ci"], cwd=REPO_ROOT, env=env,
                               stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        verdict = _wait_for_line(console, r"install tier: (pass|fail|error|empty)", run, timeout_s=300)
        killed = own_sshd.kill()
        cut_at = time.monotonic()
        assert len(killed) > 2, "the listener and the run's sessions were killed"
        time.sleep(3)
        own_sshd.start()
        returncode = run.wait(timeout=600)
    finally:
        if run.poll() is None:
            run.kill()
    said = console.read_text()
    (run_dir,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    results = json.loads((run_dir / "results.json").read_text())
    assert "install tier: pass" in verdict, said[-3000:]
    assert returncode in (0, 3) and results["verdict"] in ("pass", "error"), said[-3000:]
    assert results["teardown_leftovers"] == [], said[-3000:]
    assert [o for o in suite_objects() if o.split(" ", 1)[1].startswith(stack)] == [], "nothing left, without gc"
    assert "Traceback" not in said
    if returncode == 0:  # it reconnected and carried on: every tier after the cut ran
        assert [(t["op"], t["verdict"]) for t in asked(results)] == [(op, "pass") for op in FIVE.split(",")]
    else:  # the error names the link it lost
        assert "SSH link" in json.dumps(results["tiers"]) + str(results["error"]), said[-3000:]
    assert time.monotonic() - cut_at > 3


# A gc as this host removes every run of this host that no process holds the lock of: these tests
# each leave such a run for their own gc to reclaim, so they run one after another.
@pytest.mark.one_at_a_time("own-host-gc")
def test_a_link_lost_for_good_is_reported_with_what_may_be_left_and_the_gc_that_reclaims_it(
    own_sshd: Sshd, tmp_path: Path
) -> None:
    """sshd is killed after the install tier and stays down past the run's reconnect bound (2 s):
    the op is `error` naming the lost link, teardown gives up after trying again, exit 3 names
    what may be left and the gc command; once sshd is back, that command reclaims everything."""
    run_id = f"ssh-lost-{secrets.token_hex(4)}"
    stack = naming.stack_name(naming.app_domain("custom-html-tiny", run_id, SUITE_DOMAIN_BASE))
    runs, console = tmp_path / "runs", tmp_path / "console.log"
    env = {k: v for k, v in os.environ.items() if k not in ("RECIPE", "REF", "PR", "STAGES", "VERSION")}
    env |= {"CCCI_RUNS_DIR": str(runs), "CCCI_DOMAIN_BASE": SUITE_DOMAIN_BASE, "RECIPE": "custom-html-tiny",
            "STAGES": FIVE, "CCCI_RUN_ID": run_id, "CCCI_SSH_RECONNECT": "2", **own_sshd.env()}
    try:
        with console.open("w") as out:
            run = subprocess.Popen([sys.executable, "-m", "runner.run_recipe_ci"], cwd=REPO_ROOT, env=env,
                                   stdout=out, stderr=subprocess.STDOUT, text=True)
        try:
            _wait_for_line(console, r"install tier: (pass|fail|error|empty)", run, timeout_s=300)
            own_sshd.kill()
            cut_at, cut_wall = time.monotonic(), time.time()
            returncode = run.wait(timeout=300)
            took = time.monotonic() - cut_at
        finally:
            if run.poll() is None:
                run.kill()
        said = console.read_text()
        results = json.loads((runs / run_id / "results.json").read_text())
        assert returncode == 3 and "Traceback" not in said, said[-3000:]
        upgrade = next(t for t in results["tiers"] if t["op"] == "upgrade")
        assert upgrade["verdict"] == "error" and f"the SSH link to {own_sshd.url}" in upgrade["error"], upgrade
        command = f"CCCI_DOCKER_HOST={own_sshd.url} cc-ci gc --runs-dir {runs}"
        assert results["reclaim"] == command
        (left,) = results["teardown_leftovers"]
        assert left.startswith(f"unknown: any service, container, volume, secret, config or network of {stack} "
                               f"(could not list them: the SSH link to {own_sshd.url} is lost: no connection within 2s")
        assert f"teardown LEFT BEHIND: {left}; to reclaim it once this run has ended: {command}" in said
        assert f"reclaim with: {command}" in (runs / run_id / "summary.md").read_text()
        assert took < 60, "bounded: the op and the teardown each gave up after trying the link again"
        assert [o for o in suite_objects() if stack in o], "it was left (the host was out of reach)"
        stamps = [c for c in LocalTarget().client.configs.list() if c.name.startswith(f"{stack}_ccci-stamp-")]
        assert stamps and all((parse_time(c.attrs["CreatedAt"]) or 0) < cut_wall for c in stamps), \
            "the heartbeat stopped: its last stamp ages, for another host's gc to judge by its TTL"

        own_sshd.start()
        gc = subprocess.run([sys.executable, "-m", "runner.cli", "gc", "--runs-dir", str(runs)], cwd=REPO_ROOT,
                            env=os.environ | own_sshd.env(), capture_output=True, text=True, timeout=300)
        assert gc.returncode == 0 and f"gc: removed {stack} (run {run_id})" in gc.stderr, gc.stderr
        assert [o for o in suite_objects() if stack in o] == []
    finally:
        remove_stack(LocalTarget().client, stack)


def _dead_run(target: LocalTarget, stack: str, run_dir: Path, host: str) -> None:
    """What a run killed before its teardown leaves: a secret, a config, a volume and a network."""
    labels = run_labels(run_dir.name, str(run_dir), host)
    target.client.secrets.create(name=f"{stack}_token_v1", data=b"x", labels={OWNER_STACK_LABEL: stack} | labels)
    target.client.configs.create(name=f"{stack}_conf_v1", data=b"x", labels={STACK_LABEL: stack} | labels)
    target.client.volumes.create(name=f"{stack}_content", labels={STACK_LABEL: stack})
    target.client.networks.create(f"{stack}_default", driver="overlay", labels={STACK_LABEL: stack})


def test_gc_over_a_stock_sshd_reclaims_killed_runs_through_a_cut_link_without_a_traceback(
    own_sshd: Sshd, tmp_path: Path
) -> None:
    """Six killed runs to reclaim; the link is cut after the first is removed and back 2 s later:
    gc reconnects and removes them all, in lines of its own."""
    local, host = LocalTarget(), f"gc-ssh-{secrets.token_hex(3)}"
    stacks = [f"gc{secrets.token_hex(3)}-{i}_ccci_test" for i in range(6)]
    runs = tmp_path / "runs"
    try:
        for stack in stacks:
            (runs / stack).mkdir(parents=True)
            _dead_run(local, stack, runs / stack, host)
        said = tmp_path / "gc.log"
        with said.open("w") as out:
            gc = subprocess.Popen([sys.executable, "-m", "runner.cli", "gc", "--runs-dir", str(runs)], cwd=REPO_ROOT,
                                  env=os.environ | own_sshd.env() | {"CCCI_HOST_ID": host}, stdout=out,
                                  stderr=subprocess.STDOUT, text=True)
        try:
            _wait_for_line(said, "gc: removed", gc, timeout_s=120)
            own_sshd.kill()
            time.sleep(2)
            own_sshd.start()
            returncode = gc.wait(timeout=300)
        finally:
            if gc.poll() is None:
                gc.kill()
        text = said.read_text()
        assert returncode == 0 and "Traceback" not in text, text[-3000:]
        assert all(f"gc: removed {stack}" in text for stack in stacks), text
        assert [o for o in suite_objects() if any(stack in o for stack in stacks)] == []
    finally:
        for stack in stacks:
            remove_stack(local.client, stack)
        local.close()
