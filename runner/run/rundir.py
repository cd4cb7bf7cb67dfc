"""The run dir's layout, in one place: `<runs dir>/<run id>/` and every file a run keeps there.

The orchestrator, the driver, the ops and the tiers' fixtures all name files through `RunDir`;
the fixtures find it from one variable, `CCCI_RUN_DIR` (`RunDir.tier_env`, `RunDir.from_env`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from runner.errors import InfraError

RUN_DIR_VAR = "CCCI_RUN_DIR"
OP_VAR = "CCCI_OP"
APP_VAR = "CCCI_APP"  # which of the run's apps a tier asserts on: unset for the run's app, else its name


class RunFileUnreadable(InfraError):
    """A run dir's file, read back by someone other than its run (a page, the bridge, gc), is
    damaged: `str()` is one line naming the file relative to the run dir and why, never a server
    path, so that a page may show it."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"{name}: {why}")
        self.name, self.why = name, why


def file_kind(mode: int) -> str:
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISLNK, "a symlink"),
             (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    return next((name for test, name in kinds if test(mode)), "not a file")


@dataclass(frozen=True)
class RunDir:
    root: Path

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run_log(self) -> Path:
        return self.logs / "run.log"

    @property
    def recipe(self) -> Path:
        """The run's own clone of the recipe; deploys check out refs here."""
        return self.root / "recipe"

    @property
    def abra_dir(self) -> Path:
        """The abra driver's ABRA_DIR, the run's own: `recipes/<recipe>` (the run's clone) and
        `servers/<server>/<domain>.env`."""
        return self.root / "abra"

    @property
    def tests(self) -> Path:
        """The tier tests folder: pytest's rootdir and confcutdir."""
        return self.root / "tests"

    @property
    def app_env(self) -> Path:
        """The app env file (what install_steps.sh gets as APP_ENV_FILE); `AppEnv` owns it."""
        return self.root / "app.env"

    @property
    def app_json(self) -> Path:
        """The app as the fixtures get it (`App.describe`)."""
        return self.root / "app.json"

    @property
    def run_json(self) -> Path:
        """How the fixtures reach the run's swarm: the driver, its settings, the target."""
        return self.root / "run.json"

    @property
    def op_state(self) -> Path:
        return self.root / "op_state.json"

    @property
    def meta_json(self) -> Path:
        return self.root / "meta.json"

    @property
    def results(self) -> Path:
        return self.root / "results.json"

    @property
    def summary(self) -> Path:
        return self.root / "summary.md"

    @property
    def lock(self) -> Path:
        return self.root / "run.lock"

    @property
    def backups(self) -> Path:
        """The restic repository and its password, and each snapshot's .tar.gz export."""
        return self.root / "backups"

    def junit(self, op: str) -> Path:
        return self.root / f"junit-{op}.xml"

    def log(self, name: str) -> Path:
        """`logs/<name>.log`: tier-<op>, deploy-<n>, convergence-<service>, install_steps, traceback."""
        return self.logs / f"{name}.log"

    def compose_override(self, deployment: int) -> Path:
        """The extra compose file of a deploy (the run's labels, deploy-time overrides)."""
        return self.root / f"compose.cc-ci.{deployment}.yml"

    def of_app(self, name: str) -> RunDir:
        """A further app's own files (`App.files`): `apps/<name>/` with its app.env, app.json,
        compose overrides and logs; "" is the run's app, whose files are the run dir's."""
        return RunDir(self.root / "apps" / name) if name else self

    def tier_env(self, op: str, app: str = "") -> dict[str, str]:
        """The fixture contract: what a tier's pytest process is given to find the run, and which
        of its apps the tier asserts on (`app`: a further app's name; the `app` fixture reads
        that app's app.json)."""
        return {RUN_DIR_VAR: str(self.root), OP_VAR: op} | ({APP_VAR: app} if app else {})

    def tier_app_json(self, environ: Mapping[str, str] = os.environ) -> Path:
        """The app.json of the app the tier asserts on (`tier_env`)."""
        return self.of_app(environ.get(APP_VAR, "")).app_json

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> RunDir | None:
        value = environ.get(RUN_DIR_VAR)
        return cls(Path(value)) if value else None
