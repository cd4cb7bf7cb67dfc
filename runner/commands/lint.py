"""`cc-ci lint`: a recipe's files at one ref checked the way abra's recipe lint checks them, before
anything is deployed. One line per finding, then the exit code (docs/lint.md)."""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from runner.errors import EXIT_ASSERTION_FAILED, EXIT_BAD_INPUT, EXIT_PASS, BadInput, InfraError
from runner.lint import RULES, lint_recipe
from runner.lint.lint import resolve_ref
from runner.ops import LIFECYCLE
from runner.recipe import git
from runner.run.config import RunConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", nargs="?", help="recipe name (e.g. custom-html-tiny) or path to a recipe git repo [RECIPE]")
    parser.add_argument("--ref", help="commit, branch or tag to lint; default: the repo's HEAD [REF]")
    parser.add_argument("--opt-out", action="append", default=[], metavar="RULE=REASON",
                        help="skip a rule's verdict, with the reason (repeatable), e.g. "
                        "--opt-out 'R002=the worker has no probe'; the findings are still shown")
    parser.epilog = (f"Rules: {', '.join(RULES)} (docs/lint.md). Exit codes: {EXIT_PASS} clean or warnings only; "
                     f"{EXIT_ASSERTION_FAILED} an error-level finding nobody opted out of; {EXIT_BAD_INPUT} bad "
                     "input (unknown recipe or ref, an opt-out of no rule or without a reason).")


def main(args: argparse.Namespace) -> int:
    started = time.monotonic()
    opt_outs = _opt_outs(args.opt_out)
    environ = {k: v for k, v in os.environ.items() if k not in ("REF", "PR", "VERSION", "STAGES")}
    environ |= {var: str(value) for var, value in (("RECIPE", args.recipe), ("REF", args.ref)) if value is not None}
    config = RunConfig.from_env(environ, LIFECYCLE)
    with _repo(config) as repo:
        commit = resolve_ref(repo, config.ref)
        findings = lint_recipe(repo, config.ref, opt_outs)
    for finding in findings:
        print(finding.line())
    errors = sum(f.blocking for f in findings)
    warnings = sum(f.level == "warn" and f.opted_out is None for f in findings)
    opted = sum(f.opted_out is not None for f in findings)
    code = EXIT_ASSERTION_FAILED if errors else EXIT_PASS
    print(f"lint {config.recipe_name} at {commit[:12]}: {errors} error(s), {warnings} warning(s), "
          f"{opted} opted out (exit {code}, {time.monotonic() - started:.2f}s)")
    return code


def _opt_outs(values: list[str]) -> dict[str, str]:
    opt_outs = {}
    for value in values:
        rule_id, sep, reason = value.partition("=")
        if not sep or not reason.strip():
            raise BadInput(f"--opt-out {value!r}: give RULE=REASON, e.g. R002='the worker has no probe'")
        opt_outs[rule_id.strip()] = reason
    return opt_outs


@contextlib.contextmanager
def _repo(config: RunConfig) -> Iterator[Path]:
    """The recipe's git repo: the path or bundled fixture as is; an enrolled name cloned bare."""
    source = config.recipe_source
    if Path(source).is_dir():
        yield Path(source)
        return
    with tempfile.TemporaryDirectory(prefix="ccci-lint-") as scratch:
        try:
            git.git(None, "clone", "-q", "--bare", source, scratch)
        except InfraError as err:
            reason = str(err).split(": ", 1)[-1]
            raise BadInput(f"RECIPE: {config.recipe!r} is not bundled and could not be cloned from {source}: "
                           f"{reason}") from None
        yield Path(scratch)
