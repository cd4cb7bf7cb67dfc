"""The SSH target end to end: an sshd on loopback in front of this machine's engine is the
"remote" swarm manager. One full five-stage run goes through it with the run's own route to the
node's docker_gwbridge refused (so its HTTP assertions went through the SSH channel); the
refusals (unknown host key, changed key, wrong identity, unreachable host) are cheap runs that
stop before anything exists."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runner.errors import BadInput, InfraError
from runner.harness import naming
from runner.harness.config import TargetSettings
from runner.targets import gateway_subnets, open_target
from runner.targets.guard import allow_local_reach, refuse_local_reach
from runner.targets.local import LocalTarget
from runner.targets.ssh import SshTarget
from tests.e2e.conftest import SUITE_DOMAIN_BASE
from tests.e2e.sshd import SSHD, Sshd, free_port, keygen, loopback_sshd
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


def test_one_connection_is_reused_and_a_dropped_one_is_reconnected_once_else_the_use_fails(sshd: Sshd) -> None:
    target = open_target(TargetSettings(docker_host=sshd.url, ssh_key=sshd.key, ssh_known_hosts=sshd.known_hosts))
    assert isinstance(target, SshTarget)
    try:
        target.client.ping()
        target.client.services.list()
        assert target.connection.connects == 1
        target.connection.client.get_transport().close()  # type: ignore[union-attr]
        target.client.ping()
        assert target.connection.connects == 2
        target.connection.client.get_transport().close()  # type: ignore[union-attr]
        target.connection.address = type(target.ssh)("root", "127.0.0.1", free_port())  # now unreachable
        with pytest.raises(InfraError, match="dropped and reconnecting failed: cannot reach"):
            target.client.ping()
    finally:
        target.close()


def test_a_bad_docker_host_is_bad_input() -> None:
    with pytest.raises(BadInput, match="neither `local` nor ssh://user@host"):
        TargetSettings.from_env({"CCCI_DOCKER_HOST": "tcp://10.0.0.1:2375"})
