"""`cc-ci run`: the same run as run_recipe_ci.py, with flags in place of env vars."""

from __future__ import annotations

import argparse
import os

from runner.ops import LIFECYCLE
from runner.run_recipe_ci import run_from_env

# flag -> env var read by RunConfig.from_env; a flag wins over the environment
_FLAGS = {
    "recipe": "RECIPE",
    "ref": "REF",
    "pr": "PR",
    "pr_head_repo": "PR_HEAD_REPO",
    "stages": "STAGES",
    "version": "VERSION",
    "upgrade_from": "UPGRADE_FROM",
    "run_id": "CCCI_RUN_ID",
    "runs_dir": "CCCI_RUNS_DIR",
    "overlay_dir": "CCCI_OVERLAY_DIR",
    "approved_file": "CCCI_APPROVED_FILE",
    "skip_generic": "CCCI_SKIP_GENERIC",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", nargs="?", help="recipe name (e.g. custom-html-tiny) or path to a recipe git repo [RECIPE]")
    parser.add_argument("--ref", help="commit, branch or tag to test; default: the repo's HEAD [REF]")
    parser.add_argument("--pr", help="test this pull request's head, fetched from the recipe repo's "
                        "refs/pull/N/head (a fork's PR too); with --ref, that head must be it [PR]")
    parser.add_argument("--pr-head-repo", help="the repo the PR's head lives in (a fork): where --ref is "
                        "looked for when refs/pull/N/head is missing or not yet at it [PR_HEAD_REPO]")
    parser.add_argument("--stages", help=f"comma list of {','.join(LIFECYCLE.names)}; default: "
                        f"{','.join(LIFECYCLE.default_stages)}; what an op needs runs first (restore brings in backup) [STAGES]")
    parser.add_argument("--version", help="release tag to install instead of REF [VERSION]")
    parser.add_argument("--upgrade-from", help="where the upgrade starts: previous (default: the base release), all "
                        "(every older release, hop by hop), <n> (the n newest), a comma list of releases, or last-green "
                        "(the recipe's last commit that passed the catalogue) [UPGRADE_FROM]")
    parser.add_argument("--run-id", help="run id; default: generated [CCCI_RUN_ID]")
    parser.add_argument("--runs-dir", help="where run dirs go; default: ~/.local/state/cc-ci/runs [CCCI_RUNS_DIR]")
    parser.add_argument("--overlay-dir", help="the recipe's overlays, ops.py, recipe_meta.py, custom/, install_steps.sh; "
                        "default: tests/<recipe> [CCCI_OVERLAY_DIR]")
    parser.add_argument("--approved-file", help="allowlist of repo-local code (the recipe repo's cc-ci/); must exist; "
                        "default: tests/repo-local-approved.txt [CCCI_APPROVED_FILE]")
    parser.add_argument("--skip-generic", action="store_const", const="1", default=None,
                        help="do not collect the generic floor of any op; the ops still run [CCCI_SKIP_GENERIC=1]")
    parser.epilog = ("Exit codes: 0 pass, 1 assertion failure, 2 bad input, 3 op or infrastructure failure, "
                     "4 empty (a tier checked nothing), 5 the PR's head is not --ref (nothing deployed).")


def main(args: argparse.Namespace) -> int:
    environ = dict(os.environ)
    for flag, var in _FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            environ[var] = str(value)
    return run_from_env(environ)
