"""The level ladder: how far up the lifecycle a recipe got. Pure: fed the tiers' verdicts.

The rungs are the ops' own declarations (`OpSpec.rung`, read through `Lifecycle.rungs`): L1
install, L2 upgrade, L3 backup + restore, L4 custom, L5 lint. A rung whose ops passed, or are in
EXPECTED_NA (with the reason), is climbed; `fail`, `error`, `empty` (the op ran but no assertion
executed: nothing was checked) or a skip without a declared reason stops the climb. The level is the last rung climbed before the first one that was not (L0: none).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

Rungs = tuple[tuple[str, tuple[str, ...]], ...]  # (rung name, its ops) by level: `Lifecycle.rungs`


@dataclass(frozen=True)
class Rung:
    level: int
    name: str
    state: str  # pass | n/a | fail | error | skip | empty
    climbed: bool
    reason: str | None = None  # n/a: the declared reason; not climbed: what stopped it


@dataclass(frozen=True)
class Ladder:
    level: int
    rungs: list[Rung] = field(default_factory=list)

    @property
    def stopped_at(self) -> Rung | None:
        """The first rung not climbed (its reason says why), None when all were."""
        return next((rung for rung in self.rungs if not rung.climbed), None)

    def text(self) -> str:
        """One line: `L2 (stopped at L3 backup+restore: backup skip — not in STAGES)`."""
        stop = self.stopped_at
        return f"L{self.level}" + (f" (stopped at L{stop.level} {stop.name}: {stop.reason})" if stop else " (every rung)")


    def rungs_text(self) -> str:
        """`L1 install pass ✓ · L2 upgrade n/a ✓ · L3 backup+restore skip ✗ · L4 custom pass ✗`."""
        return " · ".join(f"L{r.level} {r.name} {r.state} {'✓' if r.climbed else '✗'}" for r in self.rungs)


def climb(verdicts: Mapping[str, tuple[str, str | None]], expected_na: Mapping[str, str], ladder: Rungs) -> Ladder:
    """`verdicts`: op -> (verdict, error or skip reason). An op with no verdict counts as a skip."""
    rungs: list[Rung] = []
    climbing = True
    for level, (name, ops) in enumerate(ladder, start=1):
        state, reason = _rung_state(ops, verdicts, expected_na)
        climbing = climbing and state in ("pass", "n/a")
        rungs.append(Rung(level, name, state, climbing, reason))
    level = max((rung.level for rung in rungs if rung.climbed), default=0)
    return Ladder(level, rungs)


def _rung_state(ops: tuple[str, ...], verdicts: Mapping[str, tuple[str, str | None]],
                expected_na: Mapping[str, str]) -> tuple[str, str | None]:
    """The first op's state that stops the rung; an op that passed or was skipped as EXPECTED_NA is fine."""
    not_applicable: list[str] = []
    for op in ops:
        verdict, why = verdicts.get(op, ("skip", "not reached"))
        if verdict == "pass":
            continue
        if verdict == "skip" and op in expected_na:
            not_applicable.append(f"{op}: {expected_na[op]}")
            continue
        return verdict, f"{op} {verdict}" + (f" — {why}" if why else "")
    if not_applicable:
        return "n/a", "; ".join(not_applicable)
    return "pass", None
