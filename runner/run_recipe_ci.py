"""Env-var entry point for CI pipelines and operators: `python -m runner.run_recipe_ci`.

RECIPE (required), REF, PR, STAGES, VERSION and the CCCI_* settings are read from the
environment; see README.md. Exit codes: 0 pass, 1 assertion failure, 2 bad input, 3 op or
infrastructure failure.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from runner.errors import CcciError
from runner.harness.config import RunConfig
from runner.harness.orchestrator import Run


def run_from_env(environ: Mapping[str, str]) -> int:
    try:
        config = RunConfig.from_env(environ)
        return Run(config).execute().exit_code
    except CcciError as err:
        print(f"cc-ci: error: {err}", file=sys.stderr)
        return err.exit_code


def main() -> int:
    if any(arg in ("-h", "--help") for arg in sys.argv[1:]):
        print(__doc__)
        return 0
    return run_from_env(os.environ)


if __name__ == "__main__":
    sys.exit(main())
