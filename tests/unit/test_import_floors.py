"""The bridge hosts the dashboard, and both stand on the floors below: no import (nor a
`python -m` by module name) runs from the dashboard up into the bridge, or from a lower floor up
into either of them."""

from __future__ import annotations

import ast
from pathlib import Path

RUNNER = Path(__file__).resolve().parents[2] / "runner"
# lowest first; an import may only go down or sideways (issue 22)
FLOORS = ("errors plumbing recipe run evidence pictures tiers maintainer record lint swarm targets "
          "drivers ops orchestrator run_recipe_ci dashboard bridge commands cli").split()
HOSTS = ("dashboard", "bridge")  # the floors this test guards; the whole graph is the architecture doc's


def _floor(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "runner" and len(parts) > 1 else None


def _named_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """Every runner module the file imports or names as a string (`python -m runner.x`)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("runner."):
            found.append((node.lineno, node.value))
    return found


def upward_into(floors: tuple[str, ...], runner: Path = RUNNER) -> list[str]:
    """`file:line: module` for each import of `runner` that reaches up into one of `floors`."""
    upward = []
    for path in sorted(runner.rglob("*.py")):
        here = path.relative_to(runner).parts[0].removesuffix(".py")
        if here not in FLOORS:
            continue
        for line, module in _named_modules(ast.parse(path.read_text())):
            there = _floor(module)
            if there in floors and FLOORS.index(there) > FLOORS.index(here):
                upward.append(f"{path.relative_to(runner.parent)}:{line}: {module}")
    return upward


def test_neither_the_dashboard_nor_anything_below_it_imports_the_bridge_or_the_dashboard_from_below() -> None:
    assert upward_into(HOSTS) == []


def test_the_check_sees_the_imports_that_made_the_loop(tmp_path: Path) -> None:
    runner = tmp_path / "runner"
    for folder in ("dashboard", "pictures", "bridge"):
        (runner / folder).mkdir(parents=True)
    (runner / "dashboard" / "catalog.py").write_text("from runner.bridge.store import Store\n")
    (runner / "pictures" / "shots.py").write_text(
        "def start_card():\n    from runner.dashboard.card import record_card\n"
        "    spawn = ['python', '-m', 'runner.dashboard.card']\n")
    (runner / "bridge" / "service.py").write_text("from runner.dashboard.pages import Dashboard\n")  # down: allowed
    assert upward_into(HOSTS, runner) == ["runner/dashboard/catalog.py:1: runner.bridge.store",
                                          "runner/pictures/shots.py:2: runner.dashboard.card",
                                          "runner/pictures/shots.py:3: runner.dashboard.card"]
