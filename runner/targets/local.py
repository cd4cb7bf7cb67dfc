"""The local engine (`CCCI_DOCKER_HOST=local`, the default): the docker client from the
environment, the CLI as it is, HTTP straight to a container's docker_gwbridge address."""

from __future__ import annotations

import docker
from docker.errors import DockerException

from runner.errors import InfraError
from runner.targets.base import DockerTarget, counting_waits


def connect(timeout: int = 60) -> docker.DockerClient:
    """A client for the local engine, API version negotiated (Debian's engine speaks 1.41).

    Raises DockerException when the engine does not answer.
    """
    client = docker.from_env(version="auto", timeout=timeout)
    client.ping()
    return client


class LocalTarget(DockerTarget):
    name = "local"
    address = "local"

    def __init__(self) -> None:
        try:
            self._client = counting_waits(connect())
        except DockerException as err:
            raise InfraError(
                f"cannot reach the Docker engine ({err}); run `cc-ci swarm up` to start it"
            ) from err

    @property
    def client(self) -> docker.DockerClient:
        return self._client

    def close(self) -> None:
        self._client.close()
