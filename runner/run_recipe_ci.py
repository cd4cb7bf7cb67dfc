"""Run one recipe through its lifecycle stages on the local swarm, configured by env vars.

usage: RECIPE=<name|path> [REF=..] [PR=..] [STAGES=install] [VERSION=..] python -m runner.run_recipe_ci

  RECIPE               enrolled recipe name (e.g. custom-html-tiny) or path to a recipe git repo
  REF                  commit, branch or tag to test (default: the repo's HEAD)
  PR                   pull request whose head is tested: refs/pull/<PR>/head of the recipe repo
                       (a fork's PR too); with REF set, that head must be REF (else exit 5)
  PR_HEAD_REPO         the repo the PR's head lives in (a fork): where REF is looked for when
                       refs/pull/<PR>/head is missing or not yet at it; needs PR and REF
  STAGES               comma list of lint,install,idempotent,upgrade,backup,restore,custom,
                       restore-fresh (default: lint,install,idempotent); what an op needs
                       comes too (restore brings in backup)
  UPGRADE_FROM         previous (default), all, <n> or a comma list of releases: the upgrade
                       installs the oldest and hops through each newer release to the head;
                       last-green: the recipe's last commit that passed the catalogue
  CCCI_CATALOGUE_HISTORY  the catalogue's history last-green reads
                       (default: ~/.local/state/cc-ci/catalogue.sqlite)
  VERSION              release tag to install instead of REF
  CCCI_RUN_ID          run id (default: generated)
  CCCI_RUNS_DIR        where run dirs go (default: ~/.local/state/cc-ci/runs)
  CCCI_DEPS_DIR        where shared dependencies (DEPS) keep their run dirs, leases and locks
                       (default: ~/.local/state/cc-ci/deps)
  CCCI_RESOLVE_IMAGE   auto | always | changed | never (auto: never for bundled recipes)
  CCCI_DEPLOY_TIMEOUT  convergence deadline in seconds when the recipe sets none (default: 120)
  CCCI_DOMAIN_BASE     apps are <recipe>-<8 hex>.<base> (default: ccci.test)
  CCCI_SKIP_GENERIC    1: do not collect the generic floor of any op (the ops still run)
  CCCI_SKIP_GENERIC_<OP>  1: the same for one op, e.g. CCCI_SKIP_GENERIC_BACKUP=1
  CCCI_DRIVER          the driver that performs ops (default: swarm)
  CCCI_OVERLAY_DIR     the recipe's overlays, ops.py, recipe_meta.py, custom/, install_steps.sh
                       (default: tests/<recipe>)
  CCCI_APPROVED_FILE   allowlist of repo-local code, the recipe repo's cc-ci/ folder; must exist
                       (default: tests/repo-local-approved.txt, which approves nothing)
  CCCI_RECIPE_URL_TEMPLATE  where non-bundled names are cloned from ({name} is replaced)

Exit codes: 0 pass, 1 assertion failure, 2 bad input (nothing deployed), 3 op or infrastructure
failure, 4 empty (a tier checked nothing), 5 the PR's head is not REF (nothing deployed). See README.md.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from runner.deps.shared import SharedDeps
from runner.errors import CcciError
from runner.ops import LIFECYCLE
from runner.orchestrator import Run
from runner.plumbing.fastexit import exit_now
from runner.plumbing.paths import TESTS_DIR
from runner.run.config import RunConfig


def run_from_env(environ: Mapping[str, str]) -> int:
    try:
        config = RunConfig.from_env(environ, LIFECYCLE)
        overlays = (config.overlay_dir or TESTS_DIR / config.recipe_name).parent  # a dependency's is beside it
        return Run(config, deps=SharedDeps(config, overlays)).execute().exit_code
    except CcciError as err:
        print(f"cc-ci: error: {err}", file=sys.stderr)
        return err.exit_code


def main() -> int:
    if any(arg in ("-h", "--help") for arg in sys.argv[1:]):
        print(__doc__)
        return 0
    return run_from_env(os.environ)


if __name__ == "__main__":
    exit_now(main())  # what sys.exit does that matters, without tearing down the interpreter
