"""The run's forwarder, when the SSH link behind it is lost past its bound: the docker SDK and CLI
of a tier or a deploy are answered with the reason (naming the link), not a closed connection."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import docker
import pytest

from runner.errors import InfraError
from runner.targets.forward import Forwarder

LOST = "the SSH link to ssh://root@h:22 is lost: no connection within 60s (8 attempts; last: Connection refused)"


class LostLink:
    def exec_channel(self, command: str) -> object:
        raise InfraError(LOST)

    def tcp_channel(self, host: str, port: int, timeout: float | None) -> object:
        raise InfraError(LOST)


@pytest.fixture
def forwarder() -> Iterator[Forwarder]:
    forwarding = Forwarder(LostLink())  # type: ignore[arg-type]
    yield forwarding
    forwarding.close()


def test_the_sdk_through_a_lost_link_gets_an_error_naming_the_link(forwarder: Forwarder) -> None:
    api = docker.APIClient(base_url=f"unix://{forwarder.docker_socket}", version="1.41", timeout=10)
    with pytest.raises(docker.errors.APIError, match=r"502 Server Error.*the SSH link to ssh://root@h:22 is lost"):
        api.services()
    with pytest.raises(docker.errors.APIError, match="the SSH link to ssh://root@h:22 is lost"):
        api.create_secret("x", b"a body the forwarder reads before it answers")


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI")
def test_the_cli_through_a_lost_link_says_why(forwarder: Forwarder) -> None:
    done = subprocess.run(["docker", "--host", f"unix://{forwarder.docker_socket}", "service", "ls"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode != 0 and "the SSH link to ssh://root@h:22 is lost" in done.stderr, done.stderr
