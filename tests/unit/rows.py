"""The tier rows of the six ops the orchestrator's unit tests were written against, in order: ops
added later through the op seam (`idempotent`, `restore-fresh`) get rows of their own in every
run, which would shift the positions these tests name."""

from __future__ import annotations

from runner.record.results import RunResult
from runner.tiers.tier import TierResult

SIX_OPS = ("lint", "install", "upgrade", "backup", "restore", "custom")


def six_op_rows(result: RunResult) -> list[TierResult]:
    return [t for t in result.tiers if t.op.partition("@")[0] in SIX_OPS]
