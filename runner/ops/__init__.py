"""The op registry, in lifecycle order. The orchestrator loops over it and names no op itself."""

from __future__ import annotations

from runner.harness.config import OPS as ORDER
from runner.ops.backup import Backup
from runner.ops.base import Op, OpContext
from runner.ops.custom import Custom
from runner.ops.install import Install
from runner.ops.restore import Restore
from runner.ops.upgrade import Upgrade

REGISTRY: dict[str, Op] = {op.name: op for op in (Install(), Upgrade(), Backup(), Restore(), Custom())}
assert tuple(REGISTRY) == ORDER, "the registry must hold every op of the lifecycle, in order"

__all__ = ["ORDER", "REGISTRY", "Op", "OpContext"]
