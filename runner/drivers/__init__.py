"""The drivers: `RunConfig.driver` names one of the registry's (`runner/run/registry.py`, where
a new driver is one line); nothing else imports a concrete driver."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runner.errors import BadInput
from runner.run.registry import DRIVERS, load

if TYPE_CHECKING:
    from runner.drivers.base import Driver, Say
    from runner.run.config import DriverSettings
    from runner.targets.base import Target

__all__ = ["DRIVERS", "create_driver"]


def create_driver(name: str, settings: DriverSettings, target: Target, say: Say | None = None) -> Driver:
    """The driver `name`, performing its ops on `target`."""
    if name not in DRIVERS:
        raise BadInput(f"CCCI_DRIVER: unknown driver {name!r}; choose from {', '.join(DRIVERS)}")
    return load(DRIVERS[name])(settings, target, say or (lambda message: None))  # type: ignore[no-any-return]
