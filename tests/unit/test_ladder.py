"""The level ladder: which rungs are climbed, and where and why the climb stops."""

from __future__ import annotations

import pytest

from runner.record.ladder import climb

# the ladder is fed its rungs (the run's `Lifecycle.rungs`); these are the four lifecycle rungs
RUNGS = (("install", ("install",)), ("upgrade", ("upgrade",)), ("backup+restore", ("backup", "restore")),
         ("custom", ("custom",)))

P = ("pass", None)
NOT_IN_STAGES = ("skip", "not in STAGES")


def _v(install: tuple[str, str | None] = P, upgrade: tuple[str, str | None] = P, backup: tuple[str, str | None] = P,
       restore: tuple[str, str | None] = P, custom: tuple[str, str | None] = P) -> dict[str, tuple[str, str | None]]:
    return {"install": install, "upgrade": upgrade, "backup": backup, "restore": restore, "custom": custom}


@pytest.mark.parametrize(("verdicts", "expected_na", "level", "states", "stop"), [
    (_v(), {}, 4, ["pass", "pass", "pass", "pass"], None),
    (_v(install=("error", "did not converge")), {}, 0, ["error", "pass", "pass", "pass"],
     "L1 install: install error — did not converge"),
    (_v(install=("fail", None)), {}, 0, ["fail", "pass", "pass", "pass"], "L1 install: install fail"),
    (_v(upgrade=NOT_IN_STAGES, backup=NOT_IN_STAGES, restore=NOT_IN_STAGES, custom=NOT_IN_STAGES), {}, 1,
     ["pass", "skip", "skip", "skip"], "L2 upgrade: upgrade skip — not in STAGES"),
    (_v(upgrade=("fail", None)), {}, 1, ["pass", "fail", "pass", "pass"], "L2 upgrade: upgrade fail"),
    # a skip with a declared reason is climbed; without one it stops the climb
    (_v(upgrade=("skip", "no older release")), {"upgrade": "one release only"}, 4,
     ["pass", "n/a", "pass", "pass"], None),
    (_v(upgrade=("skip", "no older release")), {}, 1, ["pass", "skip", "pass", "pass"],
     "L2 upgrade: upgrade skip — no older release"),
    # L3 needs both backup and restore
    (_v(restore=("fail", None)), {}, 2, ["pass", "pass", "fail", "pass"], "L3 backup+restore: restore fail"),
    (_v(backup=("skip", "no backupbot.backup=true"), restore=("skip", "no backupbot.backup=true")),
     {"backup": "stateless", "restore": "stateless"}, 4, ["pass", "pass", "n/a", "pass"], None),
    (_v(backup=("error", "restic exploded"), restore=("skip", "after backup failed")), {}, 2,
     ["pass", "pass", "error", "pass"], "L3 backup+restore: backup error — restic exploded"),
    (_v(custom=("skip", "the recipe has no custom tests")), {}, 3, ["pass", "pass", "pass", "skip"],
     "L4 custom: custom skip — the recipe has no custom tests"),
    # a rung above the stop is not climbed even when it passed
    (_v(upgrade=("error", "x"), backup=P, restore=P, custom=P), {}, 1, ["pass", "error", "pass", "pass"],
     "L2 upgrade: upgrade error — x"),
    # EXPECTED_NA never turns a failure into a climb
    (_v(custom=("fail", None)), {"custom": "no functional tests"}, 3, ["pass", "pass", "pass", "fail"],
     "L4 custom: custom fail"),
    # a tier that asserted nothing is never climbed, whatever EXPECTED_NA says
    (_v(install=("empty", "no assertion files to run")), {}, 0, ["empty", "pass", "pass", "pass"],
     "L1 install: install empty — no assertion files to run"),
    (_v(restore=("empty", "all 3 test(s) skipped")), {"restore": "stateless"}, 2, ["pass", "pass", "empty", "pass"],
     "L3 backup+restore: restore empty — all 3 test(s) skipped"),
    (_v(custom=("empty", "the assertion files hold no tests")), {}, 3, ["pass", "pass", "pass", "empty"],
     "L4 custom: custom empty — the assertion files hold no tests"),
    # an op with no verdict at all (the run ended early) is a skip
    ({"install": P}, {}, 1, ["pass", "skip", "skip", "skip"], "L2 upgrade: upgrade skip — not reached"),
])
def test_the_ladder(verdicts: dict[str, tuple[str, str | None]], expected_na: dict[str, str], level: int,
                    states: list[str], stop: str | None) -> None:
    ladder = climb(verdicts, expected_na, RUNGS)
    assert ladder.level == level
    assert [r.state for r in ladder.rungs] == states
    assert [r.climbed for r in ladder.rungs] == [i < level for i in range(4)]
    stopped = ladder.stopped_at
    assert (f"L{stopped.level} {stopped.name}: {stopped.reason}" if stopped else None) == stop
    assert ladder.text() == f"L{level}" + (f" (stopped at {stop})" if stop else " (every rung)")


def test_a_rung_in_expected_na_carries_its_reason() -> None:
    ladder = climb(_v(backup=("skip", "no labels"), restore=("skip", "no labels")),
                   {"backup": "serves files baked into the image", "restore": "serves files baked into the image"}, RUNGS)
    assert ladder.rungs[2].reason == ("backup: serves files baked into the image; "
                                      "restore: serves files baked into the image")
