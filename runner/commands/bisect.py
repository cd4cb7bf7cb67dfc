"""`cc-ci bisect`: find the first commit between a good and a bad one that loses a rung of the
ladder, each step one ordinary run (its own run dir, app and teardown) made as a process."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from runner.catalogue.bisect import BisectResult, bisect
from runner.catalogue.model import CatalogueRecipe, RunOutcome
from runner.errors import EXIT_ASSERTION_FAILED, EXIT_INFRA, EXIT_PASS, BadInput
from runner.ops import LIFECYCLE
from runner.plumbing.paths import REPO_ROOT, default_runs_dir
from runner.recipe import naming, repos
from runner.run.rundir import RunDir

# what a run is told by us, never inherited from the caller's environment
_OURS = ("RECIPE", "REF", "PR", "PR_HEAD_REPO", "STAGES", "VERSION", "CCCI_RUN_ID")


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
    result = bisect(recipe, args.good, args.bad, args.stages, lambda r, commit, s: run_as_process(r, commit, s, runs_dir),
                    lambda line: print(line, flush=True))
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


def run_as_process(recipe: CatalogueRecipe, commit: str, stages: str, runs_dir: Path) -> RunOutcome:
    """One ordinary run of `recipe` at `commit`, as `python -m runner.run_recipe_ci`; its outcome is
    what its results.json says (none: the run could not be made, `commit` None)."""
    run_id = naming.new_run_id()
    env = {key: value for key, value in os.environ.items() if key not in _OURS}
    env |= {"RECIPE": recipe.repo or recipe.name, "REF": commit, "STAGES": stages,
            "CCCI_RUN_ID": run_id, "CCCI_RUNS_DIR": str(runs_dir)}
    done = subprocess.run([sys.executable, "-m", "runner.run_recipe_ci"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, check=False)
    run_dir = RunDir(runs_dir / run_id)
    try:
        results = json.loads(run_dir.results.read_text())
    except (OSError, ValueError):
        errors = [line for line in done.stderr.splitlines() if line.startswith("cc-ci: error:")]
        return RunOutcome(0, "error", run_id, run_dir.root, exit_code=done.returncode,
                          error=errors[-1].removeprefix("cc-ci: error: ") if errors else None)
    return RunOutcome(int(results.get("level") or 0), str(results.get("verdict")), run_id, run_dir.root,
                      exit_code=done.returncode, commit=results.get("head_commit") or commit,
                      error=results.get("error"))
