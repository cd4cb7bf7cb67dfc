"""Checking a recipe's tier tests folder without deploying: what `cc-ci check` prints, and what
every run does before it deploys anything.

It compiles every Python file of the maintainer's folder, imports recipe_meta.py and ops.py as
the run would (settings and hook names), collects every tier's files with pytest's collect-only
(which imports the test files, conftest.py and the helpers they import), and names what no tier
will read. Errors (`Problem`s) make a run refuse before deploying (exit 2); notices are what a
run goes on without: files nothing reads, a repo-local folder the gate turned away, a tier
whose overlays were all ignored, a file holding no tests.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from runner.errors import BadInput
from runner.maintainer.flakes import flakes
from runner.maintainer.hooks import Hooks, load_hooks, misnamed_hooks_in_text
from runner.maintainer.meta import RecipeMeta, load_meta
from runner.maintainer.overlaycheck import folder_entries, stray
from runner.maintainer.problems import (
    COLLECT_REPORT_VAR,
    MaintainerFileError,
    Problem,
    from_exception,
)
from runner.maintainer.repolocal import FOLDER, RepoLocal, TierTests
from runner.plumbing.fileio import write_json_atomic
from runner.plumbing.paths import state_dir
from runner.run.lifecycle import Lifecycle
from runner.tiers import warm_pytest

_KEPT = 500  # clean collections remembered
# what decides a collection's report, besides the files collected
_OWN_CODE = [Path(__file__).with_name("collectcheck.py"), Path(__file__).with_name("problems.py")]


@dataclass
class CheckReport:
    errors: list[Problem] = field(default_factory=list)  # a run refuses these (exit 2)
    notices: list[str] = field(default_factory=list)  # a run goes on, without what they name
    warnings: list[str] = field(default_factory=list)  # pyflakes on a file that works as written (unused imports)
    gate: str = ""  # the repo-local gate's decision
    tests: dict[str, int | None] = field(default_factory=dict)  # shown assertion file -> tests it holds (None: broken)
    # op -> the files its tier really runs, as shown (restore-fresh runs the restore overlay too)
    by_op: dict[str, list[str]] = field(default_factory=dict)
    meta: RecipeMeta | None = None
    hooks: list[str] = field(default_factory=list)  # pre_install, post_install, ...
    head: str = ""  # the commit checked (set by the caller that cloned it)

    def lines(self) -> list[str]:
        """One line per problem (errors with their source line and caret under them), then warnings."""
        return [line for problem in self.errors for line in problem.lines()] + self.notices + self.warnings


def show_in(tests: TierTests, own_shown: str, cc_ci_tests: str = "tests") -> Callable[[Path], str | None]:
    """How a file of the run's tier tests folder is named to the maintainer: their own folder
    (`tests/<recipe>/…` or CCCI_OVERLAY_DIR), `cc-ci/…` for an approved repo-local file, cc-ci's
    own `tests/_generic/…` and `tests/conftest.py`; None for anything else (pytest, cc-ci)."""
    root, recipe_dir = tests.root.resolve(), tests.recipe_dir.resolve()
    from_repo = {p.resolve() for p in tests.from_repo}

    def shown(path: Path) -> str | None:
        if not path.is_absolute():  # `<frozen os>`, `<string>`: no file of anyone's
            return None
        full = path.resolve()
        if full.is_relative_to(recipe_dir):
            rel = full.relative_to(recipe_dir).as_posix()
            return f"{FOLDER}/{rel}" if full in from_repo else f"{own_shown}/{rel}"
        if full.is_relative_to(root):
            return f"{cc_ci_tests}/{full.relative_to(root).as_posix()}"
        return None
    return shown


def check(tests: TierTests, own_overlay: Path, own_shown: str, repo_local: RepoLocal | None,
          lifecycle: Lifecycle, tier_files: Callable[[str, Path], list[Path]], generic_skipped: Iterable[str] = (),
          collect: bool = True, recipes: list[str] | None = None) -> CheckReport:
    """Everything that can be known about the maintainer's files before deploying, for every op
    of `lifecycle` (its declarations name the generic floor files and hooks).
    `tier_files(op, recipe_dir)` is the op's own overlay files (the ops registry's); `collect`
    False leaves out pytest's collection (for runs whose tiers are not run by pytest); `recipes`:
    the enrolled names DEPS may name (None: not checked)."""
    ops = lifecycle.names
    shown = show_in(tests, own_shown)
    report = CheckReport(gate=(repo_local.message() if repo_local else None)
                         or f"repo-local {FOLDER}/: none at the tested commit")
    _compile_all(tests.recipe_dir, shown, report)
    meta = _import(report, lambda: load_meta(tests.recipe_dir, lifecycle, shown=shown, recipes=recipes))
    report.meta = meta if isinstance(meta, RecipeMeta) else None
    hooks = _import(report, lambda: load_hooks(tests.recipe_dir, ops, shown=shown))
    ops_py = tests.recipe_dir / "ops.py"
    if hooks is None and ops_py.is_file():  # it could not be imported: its hook names, read as text
        name = shown(ops_py) or "ops.py"
        report.errors += [Problem(name, why, line) for line, why in misnamed_hooks_in_text(ops_py.read_text(), ops)
                          if not any(p.file == name and p.line == line for p in report.errors)]
    if isinstance(hooks, Hooks):
        report.hooks = [f"{when}_{op}" for op in ops for when, found in (("pre", hooks.pre), ("post", hooks.post))
                        if op in found]
    skipped = set(generic_skipped) | (report.meta.generic_skipped(ops) if report.meta else set())
    by_op = {spec.name: ([] if spec.name in skipped else generic_files(tests.generic_dir, spec.generic_files))
             + tier_files(spec.name, tests.recipe_dir) for spec in lifecycle}
    files = list(dict.fromkeys(f for op_files in by_op.values() for f in op_files))
    report.by_op = {op: [seen for f in op_files if (seen := shown(f))] for op, op_files in by_op.items()}
    if files and collect:
        _collect(tests, files, shown, report)
    _notices(tests, own_overlay, own_shown, repo_local, lifecycle, by_op, shown, report)
    report.errors.sort(key=lambda p: (p.file, p.line or 0))
    return report


def _compile_all(recipe_dir: Path, shown: Callable[[Path], str | None], report: CheckReport) -> None:
    """Syntax errors in any Python file of the folder, helpers nothing imports included; then what
    pyflakes finds in the files that compile (an undefined name in a test body: an error now, not
    a NameError once the app is deployed)."""
    for path in sorted(recipe_dir.rglob("*.py")):
        source = path.read_bytes()
        try:
            compile(source, str(path), "exec")
        except SyntaxError as err:
            report.errors.append(from_exception(err, shown, shown(path) or path.name))
            continue
        errors, warnings = flakes(source.decode("utf-8", errors="replace"), shown(path) or path.name)
        report.errors += errors
        report.warnings += warnings


def _import(report: CheckReport, load: Callable[[], object]) -> object | None:
    try:
        return load()
    except MaintainerFileError as err:
        if err.problem.file not in {p.file for p in report.errors}:  # a syntax error told already
            report.errors.append(err.problem)
    except BadInput as err:  # `file: why` or `file:line: why`
        located = re.match(r"^(.+?):(\d+): (.*)$", str(err)) or re.match(r"^(.+?)(): (.*)$", str(err))
        file, line, message = located.groups() if located else ("", "", str(err))
        report.errors.append(Problem(file, message, int(line) if line else None))
    return None


def _collect(tests: TierTests, all_files: list[Path], shown: Callable[[Path], str | None], report: CheckReport) -> None:
    """pytest's collect-only over the files; a conftest.py that fails to import stops pytest
    before any file is collected, so then once more without conftests, to name the rest too."""
    told = {p.file for p in report.errors}  # a file with a syntax error is not collected again
    files = [f for f in all_files if shown(f) not in told]
    found = _collect_cached(tests, files) if files else {"problems": [], "items": {}}
    if found.get("conftest_failed"):
        again = _collect_once(tests, files, noconftest=True)
        found = {"problems": found["problems"] + again["problems"], "items": again["items"]}
    known = {(p.file, p.line, p.error) for p in report.errors}
    for data in found["problems"]:
        problem = _relabel(Problem.from_json(data), shown, tests.root)
        if (problem.file, problem.line, problem.error) not in known:
            report.errors.append(problem)
            known.add((problem.file, problem.line, problem.error))
    counted = {shown(Path(path)) or path: n for path, n in found["items"].items()}
    broken = {p.file for p in report.errors}
    report.tests = {name: None if name in broken else counted.get(name, 0) for f in all_files if (name := shown(f))}


def _collect_cached(tests: TierTests, files: list[Path]) -> dict[str, Any]:
    """A clean collection is the same for the same files, code and interpreter: it is kept (by a
    hash of all of them) so that the runs of one PR pay for pytest's start-up once, not each time."""
    digest = hashlib.sha256(f"{sys.version}|{version('pytest')}|{sorted(str(f.relative_to(tests.root)) for f in files)}".encode())
    for path in sorted(p for p in tests.root.rglob("*") if p.is_file() and "__pycache__" not in p.parts) \
            + [Path(__file__), *_OWN_CODE]:
        digest.update(str(path.relative_to(tests.root) if path.is_relative_to(tests.root) else path).encode())
        digest.update(path.read_bytes())
    cached = state_dir() / "collected" / f"{digest.hexdigest()[:32]}.json"
    if cached.is_file():
        items = json.loads(cached.read_text())
        return {"problems": [], "items": {str(tests.root / rel): n for rel, n in items.items()}}
    found = _collect_once(tests, files, noconftest=False)
    if not found["problems"] and not found.get("conftest_failed"):
        write_json_atomic(cached, {str(Path(p).relative_to(tests.root)): n for p, n in found["items"].items()})
        kept = sorted(cached.parent.glob("*.json"), key=lambda p: p.stat().st_mtime)
        for old in kept[:-_KEPT]:  # the oldest go: a cache, not a record
            old.unlink(missing_ok=True)
    return found


def _collect_once(tests: TierTests, files: list[Path], noconftest: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ccci-collect-") as scratch:
        target = Path(scratch) / "collect.json"
        args = ["-p", "no:cacheprovider", "-q", "--collect-only", "-p", "runner.maintainer.collectcheck",
                "-c", str(tests.root / "pytest.ini"), "--rootdir", str(tests.root),
                "--confcutdir", str(tests.root), "--import-mode=importlib",
                *(["--noconftest"] if noconftest else []), *map(str, files)]
        done = warm_pytest.run(args, warm_pytest.minimal_env(os.environ, {COLLECT_REPORT_VAR: str(target)}), cwd=tests.root)
        if target.exists():
            found: dict[str, Any] = json.loads(target.read_text())
            return found
    tail = [line for line in done.output.strip().splitlines() if line.strip()][-1:]
    failed = Problem(str(files[0]), f"collecting the tier files failed (pytest exited {done.exit_code}): "
                                    f"{tail[0] if tail else 'no output'}")
    return {"problems": [failed.to_json()], "items": {}}


def _relabel(problem: Problem, shown: Callable[[Path], str | None], root: Path) -> Problem:
    """The plugin names files by their run-copy path, and pytest's messages by node ids under
    the tier tests folder (`<recipe>/test_x.py::test_y`); the maintainer knows them by theirs."""
    def name(file: str) -> str:
        return shown(Path(file)) or file

    def node_ids(text: str) -> str:
        return re.sub(r"(?<![\w/.-])([\w.-]+(?:/[\w.-]+)*\.py)(?=::)",
                      lambda m: shown(root / m.group(1)) or m.group(1), text)
    return Problem(name(problem.file), node_ids(problem.error), problem.line, problem.column, problem.text,
                   [type(f)(name(f.file), f.line, f.function, f.text) for f in problem.frames], problem.context)


def _notices(tests: TierTests, own_overlay: Path, own_shown: str, repo_local: RepoLocal | None, lifecycle: Lifecycle,
             by_op: dict[str, list[Path]], shown: Callable[[Path], str | None], report: CheckReport) -> None:
    strays = [(own_shown, s) for s in stray(folder_entries(own_overlay), lifecycle)]
    if repo_local is not None and repo_local.approved:
        strays += [(FOLDER, s) for s in stray((e.removeprefix(f"{FOLDER}/") for e in repo_local.files), lifecycle)]
    report.notices += [f"{folder}/{s.line}" for folder, s in strays]
    # what the maintainer meant for each op but no tier will run
    meant: dict[str, list[str]] = {op: [] for op in lifecycle.names}
    for folder, s in strays:
        if s.op:
            meant[s.op].append(f"{folder}/{s.entry}")
    for entry in (repo_local.ignored if repo_local else []):
        if (op := lifecycle.op_of(entry.removeprefix(f"{FOLDER}/"))) is not None:
            meant[op].append(entry)
    overlays = {op: [f for f in files if f.resolve().is_relative_to(tests.recipe_dir.resolve())]
                for op, files in by_op.items()}
    for op, ignored in meant.items():
        if ignored and not overlays[op]:
            report.notices.append(f"{op} tier: none of your overlays for it will run ({', '.join(ignored)} "
                                  f"ignored); it checks {'the generic floor only' if by_op[op] else 'nothing'}")
    for name, count in report.tests.items():
        if count == 0 and not any(p.file == name for p in report.errors):
            report.notices.append(f"{name}: holds no tests (pytest collects functions named test_*)")


def generic_files(generic_dir: Path, names: tuple[str, ...]) -> list[Path]:
    """An op's generic floor files that exist (`OpSpec.generic_files` in tests/_generic/)."""
    return [path for name in names if (path := generic_dir / name).is_file()]

