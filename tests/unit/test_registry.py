"""A driver or a target is one module and one registry line (`runner/run/registry.py`): the run's
config accepts the new name, the registry opens it, and a name nobody registered is still refused
with the same message and exit code as ever."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runner.drivers import create_driver
from runner.errors import BadInput
from runner.ops import LIFECYCLE
from runner.run import registry
from runner.run.app import App
from runner.run.config import DriverSettings, RunConfig, TargetSettings
from runner.run.registry import TargetEntry
from runner.targets import attach_target, describe_target, open_target
from runner.targets.base import DockerTarget, Target

# --- the new target and driver, each in one "module": this block is all they take ---------------


class NullTarget(DockerTarget):
    """A target that reaches nothing, chosen by `CCCI_DOCKER_HOST=null://<name>`."""

    name = "null"

    def __init__(self, address: str) -> None:
        self.address = address

    @classmethod
    def open(cls, settings: TargetSettings) -> NullTarget:
        return cls(settings.docker_host)

    @classmethod
    def attach(cls, description: dict[str, Any]) -> NullTarget:
        return cls(description["address"])


class NullDriver:
    """A driver that performs nothing: the lifecycle only, as the protocol asks."""

    name = "null"

    def __init__(self, settings: DriverSettings, target: Target, say: Any) -> None:
        self.settings, self.target = settings, target

    def new_app(self, recipe: str, checkout: Path, run_id: str, run_dir: Path, ref: str, name: str = "") -> App:
        raise NotImplementedError

    # the rest of the lifecycle (never called here)
    share_secrets = deploy = upgrade = backup = restore = remove_witnesses = teardown = new_app


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.DRIVERS, "null", f"{__name__}:NullDriver")
    monkeypatch.setitem(registry.TARGETS, "null", TargetEntry(f"{__name__}:NullTarget", r"null://.+", "null://<name>"))


# --- what it takes elsewhere: nothing ---------------------------------------------------------

NULL_RUN = {"RECIPE": "custom-html-tiny", "CCCI_DRIVER": "null", "CCCI_DOCKER_HOST": "null://nowhere"}


def test_a_registered_driver_and_target_are_accepted_and_opened(registered: None) -> None:
    config = RunConfig.from_env(NULL_RUN, LIFECYCLE)
    assert (config.driver, config.docker_host) == ("null", "null://nowhere")
    target = open_target(config.target_settings)
    assert isinstance(target, NullTarget) and target.address == "null://nowhere"
    assert target.host_id == config.host_id  # what every target gets from the run
    driver = create_driver(config.driver, config.driver_settings, target)
    assert isinstance(driver, NullDriver) and driver.target is target
    attached = attach_target(describe_target(target, config.target_settings))  # a tier's process
    assert isinstance(attached, NullTarget) and attached.address == "null://nowhere"


def test_a_registered_target_is_named_among_the_forms_a_bad_address_is_told(registered: None) -> None:
    with pytest.raises(BadInput, match=r"^CCCI_DOCKER_HOST: 'tcp://x' is neither `local`, "
                                       r"ssh://user@host\[:port\] nor null://<name>$"):
        RunConfig.from_env({"RECIPE": "x", "CCCI_DOCKER_HOST": "tcp://x"}, LIFECYCLE)
    with pytest.raises(BadInput, match=r"^CCCI_DRIVER: Input should be 'swarm', 'abra' or 'null'$"):
        RunConfig.from_env({"RECIPE": "x", "CCCI_DRIVER": "kubernetes"}, LIFECYCLE)


def test_an_unregistered_driver_is_refused_as_before() -> None:
    with pytest.raises(BadInput, match=r"^CCCI_DRIVER: Input should be 'swarm' or 'abra'$") as refused:
        RunConfig.from_env(NULL_RUN, LIFECYCLE)
    assert refused.value.exit_code == 2
    with pytest.raises(BadInput, match=r"^CCCI_DRIVER: unknown driver 'null'; choose from swarm, abra$"):
        create_driver("null", DriverSettings(), NullTarget("null://nowhere"))


@pytest.mark.parametrize("address", ["null://nowhere", "tcp://10.0.0.1:2375", "ssh://", "localhost"])
def test_an_unregistered_target_is_refused_as_before(address: str) -> None:
    with pytest.raises(BadInput, match=rf"^CCCI_DOCKER_HOST: '{address}' is neither `local` nor "
                                       r"ssh://user@host\[:port\]$") as refused:
        RunConfig.from_env({"RECIPE": "x", "CCCI_DOCKER_HOST": address}, LIFECYCLE)
    assert refused.value.exit_code == 2
    with pytest.raises(BadInput, match="neither `local` nor"):
        TargetSettings.from_env({"CCCI_DOCKER_HOST": address})


@pytest.mark.parametrize(("address", "kind"), [("local", "local"), (" ", "local"), ("ssh://ci@swarm:2222", "ssh")])
def test_the_addresses_accepted_today_choose_the_same_target(address: str, kind: str) -> None:
    settings = TargetSettings(docker_host=address)
    assert registry.target_kind(settings.docker_host) == kind
