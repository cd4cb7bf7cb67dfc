"""The one place that builds docker clients."""

from __future__ import annotations

import functools

import docker
from docker.errors import DockerException

from runner.errors import InfraError


@functools.cache
def docker_client() -> docker.DockerClient:
    """A client for the local engine, API version negotiated (Debian's engine speaks 1.41)."""
    try:
        client = docker.from_env(version="auto", timeout=60)
        client.ping()
    except DockerException as err:
        raise InfraError(
            f"cannot reach the Docker engine ({err}); run `cc-ci swarm up` to start it"
        ) from err
    return client
