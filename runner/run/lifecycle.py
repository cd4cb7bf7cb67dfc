"""The lifecycle as data. Each op declares itself in its own module (`runner/ops/<op>.py`) with an
`OpSpec`: its place in the order, what it needs, its ladder rung, its op-state record model, its
generic floor and overlay files (and folders), whether it deploys, whether it runs by default,
whether the app is pictured after it, and (on its record model) what its plan decides. The top layer
(`runner/ops/__init__.py`) builds a `Lifecycle` from those declarations and hands it down: the
floors below the ops (config, meta, check, ladder, op state, pictures, pages) read it and never name an
op themselves (tests/unit/test_op_names.py holds them to it).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from runner.run.opstate import OpRecord


@dataclass(frozen=True)
class OpSpec:
    name: str
    after: tuple[str, ...] = ()  # runs after these, when they are in the lifecycle
    before: tuple[str, ...] = ()  # runs before these, when they are in the lifecycle
    needs: tuple[str, ...] = ()  # asking for this op in STAGES brings these in
    rung: int | None = None  # its level on the ladder (ops of one level form one rung); None: off the ladder
    record: type[OpRecord] = OpRecord  # what op_state.json holds for it (`op_state["<op>"]`)
    generic: tuple[str, ...] | None = None  # its generic floor in tests/_generic/ (default `test_<op>.py`)
    overlays: tuple[str, ...] | None = None  # globs in an overlay folder (default `test_<op>.py`)
    deploys: bool = False  # it (re)deploys or rewrites the app: READY_PROBE is polled after it
    default: bool = False  # in STAGES when STAGES is not set
    can_be_na: bool = True  # EXPECTED_NA may name it
    pictured: bool = False  # the app is screenshotted while its tier runs (`screenshots/<op>.png`)
    pictured_early: bool = False  # ... as soon as it answers, while the op still waits on docker (a first deploy)
    summary: str = ""  # one line for the docs and `--help`

    @property
    def generic_files(self) -> tuple[str, ...]:
        return self.generic if self.generic is not None else (f"test_{self.name}.py",)

    @property
    def overlay_globs(self) -> tuple[str, ...]:
        return self.overlays if self.overlays is not None else (f"test_{self.name}.py",)


class Lifecycle:
    """Ops in lifecycle order, built from their specs: `after`/`before` order them, ties keep
    the order they were given in. A spec naming an op that is not there is a programming error."""

    def __init__(self, specs: Iterable[OpSpec]) -> None:
        self.specs = _ordered(list(specs))
        self._by_name = {spec.name: spec for spec in self.specs}
        _check(self.specs)

    def __repr__(self) -> str:
        return f"Lifecycle({', '.join(self.names)})"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.specs)

    def __iter__(self) -> Iterator[OpSpec]:
        return iter(self.specs)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __getitem__(self, name: str) -> OpSpec:
        return self._by_name[name]

    @property
    def default_stages(self) -> tuple[str, ...]:
        return self.stages([spec.name for spec in self.specs if spec.default])

    def stages(self, asked: Iterable[str]) -> tuple[str, ...]:
        """The ops a STAGES list runs: what was asked and what that needs, in lifecycle order,
        once each. An unknown name is a ValueError naming the choices."""
        wanted = list(asked)
        unknown = [name for name in wanted if name not in self._by_name]
        if unknown:
            raise ValueError(f"unknown stage {unknown[0]!r}; choose from {', '.join(self.names)}")
        closed: set[str] = set()
        pending = list(wanted)
        while pending:
            name = pending.pop()
            if name not in closed:
                closed.add(name)
                pending += self._by_name[name].needs
        return tuple(name for name in self.names if name in closed)

    @property
    def rungs(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """The ladder: (rung name, its ops) by level; a rung is named by its ops joined with `+`."""
        levels = sorted({spec.rung for spec in self.specs if spec.rung is not None})
        ops = [tuple(spec.name for spec in self.specs if spec.rung == level) for level in levels]
        return tuple(("+".join(names), names) for names in ops)

    @property
    def records(self) -> Mapping[str, type[OpRecord]]:
        """Each op's record model, for loading op_state.json."""
        return {spec.name: spec.record for spec in self.specs}

    @property
    def may_be_na(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.specs if spec.can_be_na)

    @property
    def overlay_names(self) -> frozenset[str]:
        """The literal overlay file names (no glob) every op reads: what a stray check compares with."""
        return frozenset(g for spec in self.specs for g in spec.overlay_globs if not any(c in g for c in "*?["))

    @property
    def overlay_dirs(self) -> dict[str, str]:
        """Overlay folders an op reads (`custom` -> `custom`), from its globs `<dir>/…`."""
        return {g.partition("/")[0]: spec.name for spec in self.specs for g in spec.overlay_globs if "/" in g}

    def overlay_globs_in(self, folder: str) -> tuple[str, ...]:
        """The globs an op reads in an overlay folder (`custom` -> `custom/test_*.py`)."""
        return tuple(g for spec in self.specs for g in spec.overlay_globs if g.partition("/")[0] == folder and "/" in g)

    def op_of(self, entry: str) -> str | None:
        """The op an overlay file is for (`test_install.py` -> install, `custom/test_x.py` -> custom),
        by the ops' globs in lifecycle order; None when no op reads it."""
        return next((spec.name for spec in self.specs for g in spec.overlay_globs if fnmatchcase(entry, g)), None)

    @property
    def pictured(self) -> tuple[str, ...]:
        """The ops after which the app is screenshotted, while their tiers run."""
        return tuple(spec.name for spec in self.specs if spec.pictured)

    @property
    def pictured_early(self) -> tuple[str, ...]:
        """The pictured ops whose screenshot is taken as soon as the app answers (a first deploy)."""
        return tuple(spec.name for spec in self.specs if spec.pictured and spec.pictured_early)


def _ordered(specs: list[OpSpec]) -> tuple[OpSpec, ...]:
    """Kahn's topological sort over after/before; ties by the given order."""
    index = {spec.name: i for i, spec in enumerate(specs)}
    if len(index) != len(specs):
        raise ValueError("two ops share a name")
    edges: dict[str, set[str]] = {spec.name: set() for spec in specs}  # name -> ops that come after it
    for spec in specs:
        for first in (n for n in spec.after if n in index):
            edges[first].add(spec.name)
        for then in (n for n in spec.before if n in index):
            edges[spec.name].add(then)
    incoming = {name: 0 for name in index}
    for thens in edges.values():
        for then in thens:
            incoming[then] += 1
    ready = [(index[name], name) for name, count in incoming.items() if count == 0]
    heapq.heapify(ready)
    order: list[OpSpec] = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(specs[index[name]])
        for then in edges[name]:
            incoming[then] -= 1
            if incoming[then] == 0:
                heapq.heappush(ready, (index[then], then))
    if len(order) != len(specs):
        raise ValueError(f"the ops' after/before form a circle: {sorted(n for n, c in incoming.items() if c)}")
    return tuple(order)


def _check(specs: tuple[OpSpec, ...]) -> None:
    names = {spec.name for spec in specs}
    for spec in specs:
        missing = [need for need in spec.needs if need not in names]
        if missing:
            raise ValueError(f"op {spec.name!r} needs {missing[0]!r}, which is not in the lifecycle")
    levels = sorted({spec.rung for spec in specs if spec.rung is not None})
    if levels != list(range(1, len(levels) + 1)):
        raise ValueError(f"ladder levels must run 1, 2, … without a gap; the ops declare {levels}")
