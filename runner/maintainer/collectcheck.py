"""A pytest plugin (`-p runner.maintainer.collectcheck`) that writes what collecting found to the
JSON file named by CCCI_COLLECT_REPORT: each file that failed to import or collect, with the
exception located in the files under the rootdir (the run's tier tests folder; the harness then
names them as the maintainer knows them), and how many tests each file holds.

pytest itself prints such errors as a traceback through its own internals, naming the run's
copy of the file; this keeps the exception instead."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Generator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from runner.maintainer.problems import COLLECT_REPORT_VAR, Problem, from_exception

_problems: list[Problem] = []
_root: list[Path] = []


def _under_root(path: Path) -> str | None:
    root = _root[0] if _root else Path.cwd()
    return str(path) if path.is_absolute() and path.resolve().is_relative_to(root.resolve()) else None


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> Generator[None, Any, Any]:
    _root[:] = [Path(early_config.rootpath) if hasattr(early_config, "rootpath") else Path.cwd()]
    try:
        return (yield)
    except Exception as err:  # pytest's ConftestImportFailure: .path and .cause
        cause = getattr(err, "cause", None) or err.__cause__ or err
        path = getattr(err, "path", None)
        _problems.append(from_exception(cause, _under_root, str(path or "conftest.py")))
        _write(Counter(), conftest_failed=True)
        raise


def pytest_configure(config: pytest.Config) -> None:
    _root[:] = [Path(config.rootpath)]


def pytest_exception_interact(node: pytest.Item | pytest.Collector, call: pytest.CallInfo[Any],
                              report: pytest.CollectReport | pytest.TestReport) -> None:
    if report.when != "collect" or call.excinfo is None:
        return
    err = call.excinfo.value
    cause = err.__cause__ or err  # pytest wraps a module's import error in a CollectError
    problem = from_exception(cause, _under_root, str(node.path), "" if isinstance(node, pytest.Module) else "collecting")
    function = re.search(r"::(\w+)", problem.error)
    if problem.line is None and function and node.path.is_file():  # pytest's own complaint about a test
        at = re.search(rf"^\s*(?:async\s+)?def\s+{function.group(1)}\b", node.path.read_text(), re.MULTILINE)
        if at:
            line = node.path.read_text().count("\n", 0, at.start()) + 1
            problem = replace(problem, line=line, text=node.path.read_text().splitlines()[line - 1].strip())
    _problems.append(problem)


def pytest_collection_finish(session: pytest.Session) -> None:
    _write(Counter(str(item.path) for item in session.items))


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not hasattr(session, "items"):  # collection did not finish
        _write(Counter())


def _write(items: Counter[str], conftest_failed: bool = False) -> None:
    target = os.environ.get(COLLECT_REPORT_VAR)
    if target:
        Path(target).write_text(json.dumps({"problems": [p.to_json() for p in _problems],
                                            "items": dict(items), "conftest_failed": conftest_failed}))
