"""`install_steps.sh`: the recipe's own setup, once, after the app env is written and before the
first deploy. It may edit the app env (e.g. add an optional compose file to COMPOSE_FILE)."""

from __future__ import annotations

import os
from pathlib import Path

from runner.errors import InfraError
from runner.plumbing.fileio import write_text_atomic
from runner.plumbing.proc import run_host
from runner.plumbing.scrub import scrubber
from runner.run.app import App

SCRIPT = "install_steps.sh"


class InstallStepsError(InfraError):
    """install_steps.sh exited non-zero: the install tier's error; nothing was deployed."""


def run_install_steps(script: Path, app: App, env_file: Path) -> str:
    """Run the script with bash in the recipe's clone; its output goes to logs/install_steps.log."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")}
    env |= {"APP_ENV_FILE": str(env_file), "DOMAIN": app.domain, "STACK_NAME": app.stack,
            "RECIPE_DIR": str(app.checkout)}
    done = run_host(["bash", str(script)], cwd=app.checkout, env=env, check=False)
    output = scrubber.scrub(done.output)
    write_text_atomic(app.run_files.log("install_steps"), output)
    if done.failed:
        tail = [line.strip() for line in output.strip().splitlines() if line.strip()][-5:]
        raise InstallStepsError(f"{SCRIPT} exited {done.exit_code}: {' | '.join(tail) or 'no output'}")
    return output
