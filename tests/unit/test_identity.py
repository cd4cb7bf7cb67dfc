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


def test_each_service_records_what_it_mounts_at_each_path() -> None:
    # what the upgrade floor compares: a release that renames a volume mounts another one there
    client = FakeClient()
    db = client.api.add("service", f"{STACK}_db", STACK)
    db.attrs = {"Version": {"Index": 7}, "Spec": {"Name": f"{STACK}_db", "Labels": {}, "TaskTemplate": {
        "ContainerSpec": {"Mounts": [
            {"Type": "volume", "Source": f"{STACK}_db", "Target": "/var/lib/pastebin/"},
            {"Type": "bind", "Source": "/etc/localtime", "Target": "/etc/localtime", "ReadOnly": True},
            {"Type": "tmpfs", "Target": "/tmp"},
            {"Type": "volume", "Target": "/cache"},  # anonymous: no source
        ]}}}}
    client.api.add("service", f"{STACK}_app", STACK).attrs = {"Version": {"Index": 3}}
    identity = deployed_identity(cast(docker.DockerClient, cast(Any, client)), STACK)
    assert {path: (m.type, m.source) for path, m in identity.services["db"].mounts.items()} == {
        "/var/lib/pastebin": ("volume", f"{STACK}_db"), "/etc/localtime": ("bind", "/etc/localtime"),
        "/tmp": ("tmpfs", ""), "/cache": ("volume", "")}
    assert identity.services["app"].mounts == {}
    recorded = identity.model_dump(mode="json")["services"]["db"]
    assert sorted(recorded) == ["id", "mounts", "updated_at", "version"]  # the keys before, plus mounts
    assert recorded["mounts"]["/var/lib/pastebin"] == {"type": "volume", "source": f"{STACK}_db"}
