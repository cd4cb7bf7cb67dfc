"""`cc-ci bisect`: find the first commit between a good and a bad one that loses a rung of the
ladder, each step one ordinary run (its own run dir, app and teardown) made as a process, as the
catalogue makes them (runner/catalogue/process.py), on CCCI_DOCKER_HOST's target."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from runner.catalogue.bisect import BisectResult, bisect
from runner.catalogue.model import CatalogueRecipe
from runner.catalogue.process import run_on
from runner.errors import EXIT_ASSERTION_FAILED, EXIT_INFRA, EXIT_PASS, BadInput
from runner.ops import LIFECYCLE
from runner.plumbing.paths import default_runs_dir
from runner.recipe import repos


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="recipe name (e.g. custom-html-tiny) or path to a recipe git repo")
    parser.add_argument("--good", required=True, metavar="C1", help="a commit (sha, branch, tag) the recipe was good at")
    parser.add_argument("--bad", required=True, metavar="C2", help="a later commit it is bad at (C1 must be its ancestor)")
    parser.add_argument("--stages", default=",".join(LIFECYCLE.stages(LIFECYCLE.rungs[0][1])),
                        help=f"comma list of {','.join(LIFECYCLE.names)} the bad commit is run with; where its "
                        "ladder stops is the lost rung, and the other steps run only the stages that reach it "
                        "(default: %(default)s)")
    parser.add_argument("--runs-dir", type=Path, default=None,
                        help="where the steps' run dirs go; default: ~/.local/state/cc-ci/runs [CCCI_RUNS_DIR]")
    parser.epilog = ("Each step is one ordinary run (`cc-ci run`'s env vars, e.g. CCCI_DOCKER_HOST, apply). "
                     "Exit codes: 0 the first bad commit was found, 1 none (the bad commit is not bad, or the "
                     "commit did not move), 2 bad input (an unknown commit, C1 not an ancestor of C2), "
                     "3 a step could not be made twice (infrastructure).")


def main(args: argparse.Namespace) -> int:
    recipe = _recipe(args.recipe)
    runs_dir = (args.runs_dir or Path(os.environ.get("CCCI_RUNS_DIR") or default_runs_dir())).expanduser().resolve()
    target = os.environ.get("CCCI_DOCKER_HOST") or "local"
    result = bisect(recipe, args.good, args.bad, args.stages, run_on(target, runs_dir), lambda line: print(line, flush=True))
    print(_told(result))
    if result.stopped:
        return EXIT_INFRA
    return EXIT_PASS if result.first_bad else EXIT_ASSERTION_FAILED


def _recipe(given: str) -> CatalogueRecipe:
    if "/" in given:  # a path, as RECIPE takes it
        path = Path(given).expanduser().resolve()
        if not path.is_dir():
            raise BadInput(f"RECIPE: {given!r} is not a directory; give a recipe name or a path to its git repo")
        return CatalogueRecipe(name=path.name, repo=str(path))
    if not repos.RECIPE_NAME.match(given):
        raise BadInput(f"RECIPE: {given!r} is not a recipe name; give a name or a path to its git repo")
    return CatalogueRecipe(name=given)


def _told(result: BisectResult) -> str:
    runs = f"{len(result.runs)} run(s)"
    if result.first_bad:
        return f"first bad commit: {result.first_bad} {result.subject}\n  {result.why} ({runs})"
    return f"{'bisect stopped' if result.stopped else 'no first bad commit'}: {result.why} ({runs})"
