"""`RunDir` owns every name in a run dir, for writers and readers alike: no module of runner/ and no
shared test helper joins a run dir's path by hand (`run_dir / "results.json"`)."""

from __future__ import annotations

import ast
from pathlib import Path

from runner.plumbing.paths import REPO_ROOT
from runner.run.rundir import RunDir

# what holds a run dir (a Path, or a RunDir whose `.root` is one)
HOLDERS = {"run_dir", "rundir", "run_path", "files", "run_files"}
# the run dir's own names, and their parts (`logs/run.log`: `run.log`); `logs` alone is also the
# bridge's state folder, whose joins are not a run dir's
NAMES = {part for key, value in vars(RunDir).items() if key.isupper() and isinstance(value, str)
         for part in (value, *value.split("/")) if part != RunDir.LOGS}


def _modules() -> list[Path]:
    """runner/ (but RunDir's own module) and the tests' helpers: the assertion files' fixtures
    (tests/conftest.py) and every module of tests/unit and tests/e2e that is not a test file."""
    runner = [p for p in (REPO_ROOT / "runner").rglob("*.py") if p != REPO_ROOT / "runner/run/rundir.py"]
    helpers = [REPO_ROOT / "tests/conftest.py",
               *(p for folder in ("unit", "e2e") for p in (REPO_ROOT / "tests" / folder).rglob("*.py")
                 if not p.name.startswith("test_"))]
    return sorted(runner + helpers)


def _name(node: ast.expr) -> str | None:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None


def _holds_run_dir(node: ast.expr) -> bool:
    """`run_dir`, `self.run_dir`, or the `.root` of a RunDir (`run_dir.root`, `app.files.root`)."""
    if _name(node) in HOLDERS - {"files", "run_files"}:
        return True
    return isinstance(node, ast.Attribute) and node.attr == "root" and _name(node.value) in HOLDERS


def _names_a_run_file(node: ast.expr) -> bool:
    """`"results.json"`, `f"junit-{op}.xml"`, or a relative name of RunDir's (`RunDir.RESULTS`)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value in NAMES
    if isinstance(node, ast.JoinedStr) and node.values:
        first = node.values[0]
        return isinstance(first, ast.Constant) and str(first.value).startswith("junit-")
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "RunDir"


def hand_joins(source: str) -> list[int]:
    """The lines of `source` that join a run dir's path by hand."""
    return sorted(node.lineno for node in ast.walk(ast.parse(source))
                  if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)
                  and (_holds_run_dir(node.left) or _names_a_run_file(node.right)))


def test_no_module_joins_a_run_dir_by_hand() -> None:
    found = [f"{path.relative_to(REPO_ROOT)}:{line}" for path in _modules() for line in hand_joins(path.read_text())]
    assert found == [], "name these through RunDir: " + ", ".join(found)


def spelled_names(source: str) -> list[tuple[int, str]]:
    """Where `source` spells a run dir's name itself (`RESULTS = "results.json"`, to join later)."""
    return sorted((node.lineno, node.value) for node in ast.walk(ast.parse(source))
                  if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in NAMES)


# the card's page template, rendered by name, which its picture in the run dir shares
# and the browser tests' fixture, which a tier's spare looks for in the test files
SAME_NAME_ELSEWHERE = {("runner/pictures/card.py", RunDir.CARD_HTML), ("runner/tiers/warm_pytest.py", RunDir.BROWSER)}


def test_no_module_spells_a_run_dir_name_of_its_own() -> None:
    found = [f"{where}:{line}" for path in _modules() if (where := str(path.relative_to(REPO_ROOT)))
             for line, name in spelled_names(path.read_text()) if (where, name) not in SAME_NAME_ELSEWHERE]
    assert found == [], "take these names from RunDir: " + ", ".join(found)


def test_the_check_sees_each_kind_of_hand_join() -> None:
    joins = ['run_dir / "logs"', 'self.run_dir / name', 'run.run_dir.root / "x"', 'app.files.root / "x"',
             'path / "results.json"', 'path / "logs" / "run.log"', 'd / "card.png"', 'd / f"junit-{op}.xml"',
             'root / RunDir.RESULTS', 'path / "screenshots" / f"{when}.png"']
    assert [bool(hand_joins(join)) for join in joins] == [True] * len(joins)
    fine = ['run_dir.results', 'state_dir / "logs"', 'tests.root / "pytest.ini"', 'repo.root / "restic"',
            'runs_dir / run_id', 'RunDir.tier_log_name("*")']
    assert [hand_joins(join) for join in fine] == [[]] * len(fine)
    assert spelled_names('RESULTS = "results.json"') == [(1, "results.json")]
    assert spelled_names('LOG = "logs/run.log"') == [(1, "logs/run.log")]
    assert spelled_names('render("card.htm")') == []
