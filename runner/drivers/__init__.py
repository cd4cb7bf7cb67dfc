"""The driver registry: `RunConfig.driver` names one; nothing else imports a concrete driver."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from runner.errors import BadInput

if TYPE_CHECKING:
    from runner.drivers.base import Driver, Say
    from runner.run.config import DriverSettings
    from runner.targets.base import Target

# name -> "module:Class", imported only when chosen
DRIVERS = {
    "swarm": "runner.drivers.swarm.driver:SwarmDriver",
    "abra": "runner.drivers.abra.driver:AbraDriver",
}


def create_driver(name: str, settings: DriverSettings, target: Target, say: Say | None = None) -> Driver:
    """The driver `name`, performing its ops on `target`."""
    if name not in DRIVERS:
        raise BadInput(f"CCCI_DRIVER: unknown driver {name!r}; choose from {', '.join(DRIVERS)}")
    module_name, class_name = DRIVERS[name].split(":")
    driver_class = getattr(importlib.import_module(module_name), class_name)
    return driver_class(settings, target, say or (lambda message: None))  # type: ignore[no-any-return]
