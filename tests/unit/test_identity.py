"""The app's identity as the swarm reports it: what the upgrade floor compares to prove the
upgrade stayed in place. Only the app's own stack is read."""

from __future__ import annotations

from typing import Any, cast

import docker

from runner.swarm.identity import deployed_identity
from tests.unit.fake_docker import FakeClient

STACK = "app_test"


def test_the_identity_is_the_stacks_services_and_volumes() -> None:
    client = FakeClient()
    app = client.api.add("service", f"{STACK}_app", STACK)
    app.attrs = {"Version": {"Index": 1027}, "UpdatedAt": "2026-12-01T15:44:53Z"}
    client.api.add("volume", f"{STACK}_content", STACK)
    other = client.api.add("service", "other_test_app", "other_test")  # another run's stack
    other.attrs = {"Version": {"Index": 1}}
    identity = deployed_identity(cast(docker.DockerClient, cast(Any, client)), STACK)
    assert identity.stack == STACK
    assert list(identity.services) == ["app"]
    assert (identity.services["app"].id, identity.services["app"].version) == (app.id, 1027)
    assert identity.services["app"].updated_at == "2026-12-01T15:44:53Z"
    assert list(identity.volumes) == [f"{STACK}_content"]


def test_a_stack_without_volumes_has_an_empty_volume_set() -> None:
    client = FakeClient()
    client.api.add("service", f"{STACK}_app", STACK).attrs = {"Version": {"Index": 3}}
    assert deployed_identity(cast(docker.DockerClient, cast(Any, client)), STACK).volumes == {}
