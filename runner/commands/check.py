"""`cc-ci check`: what a run checks before it deploys, without deploying: every tier's files
collected, ops.py, recipe_meta.py and conftest.py imported, hook and file names, the repo-local
gate's decision. One line per problem, then the exit code."""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from pathlib import Path

from rich.console import Console

from runner.errors import EXIT_ASSERTION_FAILED, EXIT_BAD_INPUT, EXIT_PASS
from runner.maintainer.check import CheckReport
from runner.maintainer.repolocal import FOLDER
from runner.ops import LIFECYCLE
from runner.orchestrator import Run
from runner.run.config import RunConfig

_FLAGS = {"recipe": "RECIPE", "ref": "REF", "overlay_dir": "CCCI_OVERLAY_DIR", "approved_file": "CCCI_APPROVED_FILE"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", nargs="?", help="recipe name (e.g. custom-html-tiny) or path to a recipe git repo [RECIPE]")
    parser.add_argument("--ref", help="commit, branch or tag whose repo-local cc-ci/ the gate decides about; "
                        "default: the repo's HEAD [REF]")
    parser.add_argument("--overlay-dir", help="the recipe's overlays, ops.py, recipe_meta.py, custom/, install_steps.sh; "
                        "default: tests/<recipe> [CCCI_OVERLAY_DIR]")
    parser.add_argument("--approved-file", help="allowlist of repo-local code; default: tests/repo-local-approved.txt "
                        "[CCCI_APPROVED_FILE]")
    parser.epilog = (f"Exit codes: {EXIT_PASS} nothing to fix (pyflakes' warnings, e.g. an unused import, are "
                     f"printed and change nothing); {EXIT_ASSERTION_FAILED} a run would go on but "
                     f"ignore what is listed (misnamed files, an unapproved repo-local folder, a file holding no "
                     f"tests); {EXIT_BAD_INPUT} a run would refuse before deploying (syntax or import errors, "
                     "undefined names pyflakes finds, "
                     "bad settings, misspelt hooks, bad arguments, a recipe file past cc-ci's input limits or outside the recipe: "
                     "docs/enroll-recipe.md).")


def main(args: argparse.Namespace) -> int:
    started = time.monotonic()
    environ = {k: v for k, v in os.environ.items() if k not in ("REF", "PR", "VERSION", "STAGES")}
    for flag, var in _FLAGS.items():
        if (value := getattr(args, flag)) is not None:
            environ[var] = str(value)
    with tempfile.TemporaryDirectory(prefix="ccci-check-") as scratch:
        environ["CCCI_RUNS_DIR"] = scratch
        config = RunConfig.from_env(environ, LIFECYCLE)
        run = Run(config, console=Console(file=io.StringIO()))  # the run's progress lines are not this
        report = run.check_only()
    lines = _report_lines(run, report)
    for line in lines:
        print(line)
    problems = len(report.errors) + len(report.notices) + bool(_gate_turned_away(run))
    code = EXIT_BAD_INPUT if report.errors else EXIT_ASSERTION_FAILED if problems else EXIT_PASS
    took = time.monotonic() - started
    if code == EXIT_PASS:
        warned = f"; {len(report.warnings)} warning(s) above" if report.warnings else ""
        print(f"ok: nothing to fix{warned} ({took:.1f}s)")
    else:
        verdict = "a run would refuse it before deploying" if report.errors else "a run would ignore what is listed"
        print(f"{problems} problem(s): {verdict} (exit {code}, {took:.1f}s)")
    return code


def _gate_turned_away(run: Run) -> bool:
    local = run.result.repo_local
    return bool(local and local.ignored)


def _report_lines(run: Run, report: CheckReport) -> list[str]:
    lines = [f"cc-ci check {run.config.recipe_name} at {report.head[:12]}: {_folders(run, report)}"]
    for op in run.lifecycle.names:
        files = [f"{name} ({_count_text(report.tests.get(name, 0))})" for name in report.by_op.get(op, [])]
        lines.append(f"  {op:<8} {', '.join(files) or '-'}")
    lines.append(f"  {'hooks':<8} {', '.join(report.hooks) or '-'}")
    turned_away = _gate_turned_away(run)
    lines.append(f"  {'gate':<8} {'not approved: see below' if turned_away else report.gate}")
    lines += [f"problem: {report.gate}"] if turned_away else []
    lines += [f"problem: {line}" if not line.startswith(" ") else line
              for line in [*_error_lines(report), *report.notices]]
    return lines + [f"warning: {line}" for line in report.warnings]


def _error_lines(report: CheckReport) -> list[str]:
    return [line for problem in report.errors for line in problem.lines()]


def report_folder(run: Run) -> str:
    folder = run.own_overlay_dir
    root = Path(__file__).resolve().parents[2]
    return str(folder.relative_to(root)) if folder.is_relative_to(root) else str(folder)


def _count_text(count: int | None) -> str:
    return "not collected: see below" if count is None else f"{count} test" + ("s" if count != 1 else "")


def _folders(run: Run, report: CheckReport) -> str:
    """Where the maintainer's files came from: their own folder, the recipe repo's approved
    `cc-ci/`, or both (cc-ci's own `tests/_generic` is not theirs)."""
    own = report_folder(run)
    shown = [name for names in report.by_op.values() for name in names]
    local = run.result.repo_local
    from_repo = bool(local and local.approved and any(name.startswith(f"{FOLDER}/") for name in shown))
    has_own = any(name.startswith(f"{own}/") for name in shown) or not from_repo
    return " + ".join([*([own] if has_own else []), *([f"{FOLDER}/ (the recipe repo's, approved)"] if from_repo else [])])
