"""The one place that builds docker clients."""

from __future__ import annotations

import functools

import docker
from docker.errors import DockerException

from runner.errors import InfraError


def connect(timeout: int = 60) -> docker.DockerClient:
    """A client for the local engine, API version negotiated (Debian's engine speaks 1.41).

    Raises DockerException when the engine does not answer.
    """
    client = docker.from_env(version="auto", timeout=timeout)
    client.ping()
    return client


@functools.cache
def docker_client() -> docker.DockerClient:
    """The shared client; a missing engine is an InfraError that says what to run."""
    try:
        return connect()
    except DockerException as err:
        raise InfraError(
            f"cannot reach the Docker engine ({err}); run `cc-ci swarm up` to start it"
        ) from err
