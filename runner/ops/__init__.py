"""The op registry. Each op declares its place, needs, rung, record (and plan) model, floor,
overlay folders and pictures in its own module (`Op.spec`); `LIFECYCLE` is built from those
declarations and handed down to the floors below. The orchestrator loops over it and names no op
itself, nor does anything else outside `runner/ops/` (tests/unit/test_op_names.py)."""

from __future__ import annotations

from collections.abc import Iterable

from runner.ops.backup import Backup
from runner.ops.base import Op, OpContext
from runner.ops.custom import Custom
from runner.ops.idempotent import Idempotent
from runner.ops.install import Install
from runner.ops.lint import Lint
from runner.ops.restore import Restore
from runner.ops.restore_fresh import RestoreFresh
from runner.ops.upgrade import Upgrade
from runner.run.lifecycle import Lifecycle, OpSpec


def registry(ops: Iterable[Op]) -> dict[str, Op]:
    """Ops by name, in lifecycle order."""
    given = {op.name: op for op in ops}
    return {name: given[name] for name in lifecycle_of(given.values()).names}


def lifecycle_of(ops: Iterable[Op]) -> Lifecycle:
    return Lifecycle(op.spec for op in ops)


REGISTRY: dict[str, Op] = registry([Lint(), Install(), Upgrade(), Backup(), Restore(), Custom(), RestoreFresh(), Idempotent()])
LIFECYCLE = lifecycle_of(REGISTRY.values())
ORDER = LIFECYCLE.names  # the ops' names in lifecycle order

__all__ = ["LIFECYCLE", "ORDER", "REGISTRY", "Lifecycle", "Op", "OpContext", "OpSpec", "lifecycle_of", "registry"]
