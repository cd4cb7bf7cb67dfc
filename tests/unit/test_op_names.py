"""Each op declares everything about itself in `runner/ops/<op>.py`; nothing else in runner/ spells
an op's name. A floor below the ops reads their declarations through the `Lifecycle` it is handed
(overlay folders, pictured ops, plans, rungs), so adding, renaming or removing an op touches ops/ only."""

from __future__ import annotations

import ast
from collections.abc import Collection
from pathlib import Path

from runner.ops import LIFECYCLE

RUNNER = Path(__file__).resolve().parents[2] / "runner"

# The same word, another thing: (file under runner/, string) -> what it is there. Keep it short.
NOT_AN_OP = {
    ("cli.py", "lint"): "the `cc-ci lint` command",
    ("drivers/abra/backupbot.py", "backup"): "`abra app backup create|download`",
    ("drivers/abra/backupbot.py", "restore"): "`abra app restore`",
    ("drivers/swarm/substrate.py", "install"): "`apt-get install`",
    ("pictures/reachproxy.py", "upgrade"): "the HTTP `Upgrade` header (hop-by-hop)",
    ("recipe/backupbot.py", "backup"): "backup-bot-two's hook phase (`backupbot.backup.pre-hook`)",
    ("recipe/backupbot.py", "restore"): "backup-bot-two's hook phase (`backupbot.restore.pre-hook`)",
    ("swarm/backup.py", "backup"): "`restic backup`, and backup-bot-two's hook phase",
    ("swarm/backup.py", "restore"): "`restic restore`, and backup-bot-two's hook phase",
}


def op_names() -> frozenset[str]:
    """Every op's name as the registry declares it, and as an identifier (`restore_fresh`)."""
    return frozenset(n for name in LIFECYCLE.names for n in (name, name.replace("-", "_")))


def spelled(source: str, names: Collection[str]) -> list[tuple[int, str]]:
    """(line, name) of each string constant that is exactly an op's name."""
    return sorted((node.lineno, node.value) for node in ast.walk(ast.parse(source))
                  if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names)


def _outside_ops() -> dict[str, list[tuple[int, str]]]:
    found = {}
    for path in sorted(RUNNER.rglob("*.py")):
        relative = path.relative_to(RUNNER).as_posix()
        if not relative.startswith("ops/"):
            found[relative] = spelled(path.read_text(), op_names())
    return found


def test_nothing_outside_ops_spells_an_op_name() -> None:
    spelt = [f"runner/{file}:{line}: {name!r}" for file, hits in _outside_ops().items()
             for line, name in hits if (file, name) not in NOT_AN_OP]
    assert spelt == [], ("read what the op declares (its OpSpec, through the Lifecycle) instead of its name:\n"
                         + "\n".join(spelt))


def test_every_exemption_is_still_needed() -> None:
    found = {(file, name) for file, hits in _outside_ops().items() for _, name in hits}
    assert sorted(set(NOT_AN_OP) - found) == []


def test_an_op_name_put_back_is_found_with_its_line() -> None:
    source = ('def _tier_of(shown: str) -> str | None:\n'
              '    if "/custom/" in f"/{shown}":\n'
              '        return "custom"\n'
              '    return None\n'
              'PICTURED = ("install", "upgrade")  # and the like\n')
    assert spelled(source, op_names()) == [(3, "custom"), (5, "install"), (5, "upgrade")]
    assert spelled('HOOK = "pre_restore_fresh"\nOP = "restore_fresh"\n', op_names()) == [(2, "restore_fresh")]
