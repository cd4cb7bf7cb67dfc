"""The run dir's layout, in one place: `<runs dir>/<run id>/` and every file a run keeps there.

Writers and readers alike name files through `RunDir`: the orchestrator, the drivers, the ops,
the pictures, the tiers' fixtures (they find it from one variable, `CCCI_RUN_DIR`: `RunDir.tier_env`,
`RunDir.from_env`), and the pages and the bridge that read a run dir back. Those readers open
files by their name relative to the run dir (bounded, never through a symlink: `run.readback`),
so each name is here twice: as a relative name (`RunDir.RESULTS`) and as a path (`RunDir.results`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

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

    # names relative to the run dir: what readers of a run dir from disk open (`run.readback`)
    LOGS: ClassVar[str] = "logs"
    RUN_LOG: ClassVar[str] = f"{LOGS}/run.log"
    RESULTS: ClassVar[str] = "results.json"
    SUMMARY: ClassVar[str] = "summary.md"
    RUN_JSON: ClassVar[str] = "run.json"
    OP_STATE: ClassVar[str] = "op_state.json"
    APP_JSON: ClassVar[str] = "app.json"
    APP_ENV: ClassVar[str] = "app.env"
    LOCK: ClassVar[str] = "run.lock"
    SCREENSHOTS: ClassVar[str] = "screenshots"  # <when>.png: the app after install, after upgrade; <when>.json
    BROWSER: ClassVar[str] = "browser"  # <test>.png and .zip: a failing browser test's page and trace
    CARD_PNG: ClassVar[str] = "card.png"  # the summary card; card.html is its text
    CARD_HTML: ClassVar[str] = "card.html"
    CARD_JSON: ClassVar[str] = "card.json"  # where the card stands: making (with the pid), made, failed
    DEP_JSON: ClassVar[str] = "dep.json"  # a shared dependency's run dir: the app is kept; when it was last released

    @classmethod
    def at(cls, runs_dir: Path, run_id: str) -> RunDir:
        """The run dir of the run `run_id` under the runs dir."""
        return cls(runs_dir / run_id)

    @property
    def logs(self) -> Path:
        return self.root / self.LOGS

    @property
    def run_log(self) -> Path:
        return self.root / self.RUN_LOG

    @property
    def recipe(self) -> Path:
        """The run's own clone of the recipe; deploys check out refs here."""
        return self.root / "recipe"

    @property
    def abra_dir(self) -> Path:
        """The abra driver's ABRA_DIR, the run's own: `recipes/<recipe>` (the run's clone) and
        `servers/<server>/<domain>.env` (`abra_app_env`)."""
        return self.root / "abra"

    def abra_recipe(self, recipe: str) -> Path:
        """`recipes/<recipe>` in the run's ABRA_DIR: a link to the run's clone."""
        return self.abra_dir / "recipes" / recipe

    def abra_app_env(self, server: str, domain: str) -> Path:
        """`servers/<server>/<domain>.env` in the run's ABRA_DIR: the app env file as abra keeps it."""
        return self.abra_dir / "servers" / server / f"{domain}.env"

    @property
    def tests(self) -> Path:
        """The tier tests folder: pytest's rootdir and confcutdir."""
        return self.root / "tests"

    @property
    def app_env(self) -> Path:
        """The app env file (what install_steps.sh gets as APP_ENV_FILE); `AppEnv` owns it."""
        return self.root / self.APP_ENV

    @property
    def app_json(self) -> Path:
        """The app as the fixtures get it (`App.describe`)."""
        return self.root / self.APP_JSON

    @property
    def run_json(self) -> Path:
        """How the fixtures reach the run's swarm: the driver, its settings, the target."""
        return self.root / self.RUN_JSON

    @property
    def op_state(self) -> Path:
        return self.root / self.OP_STATE

    @property
    def meta_json(self) -> Path:
        return self.root / "meta.json"

    @property
    def results(self) -> Path:
        return self.root / self.RESULTS

    @property
    def summary(self) -> Path:
        return self.root / self.SUMMARY

    @property
    def lock(self) -> Path:
        return self.root / self.LOCK

    @property
    def dep_json(self) -> Path:
        """Marks the run dir of a shared dependency (its app outlives the run that deployed it, under
        leases: `runlock.lease`) and says when a run last released it (`runner/deps/shared.py`)."""
        return self.root / self.DEP_JSON

    @property
    def backups(self) -> Path:
        """The restic repository and its password, and each snapshot's .tar.gz export."""
        return self.root / "backups"

    @property
    def screenshots(self) -> Path:
        return self.root / self.SCREENSHOTS

    @classmethod
    def screenshot_name(cls, when: str, suffix: str = "png") -> str:
        """`screenshots/<when>.png`, the app's screenshot, or `.json`: its url or why it has none."""
        return f"{cls.SCREENSHOTS}/{when}.{suffix}"

    def screenshot(self, when: str, suffix: str = "png") -> Path:
        return self.root / self.screenshot_name(when, suffix)

    @classmethod
    def browser_failure_name(cls, test: str, suffix: str) -> str:
        """`browser/<test>.png`, a failing browser test's page, or `.zip`: its trace."""
        return f"{cls.BROWSER}/{test}.{suffix}"

    def browser_failure(self, test: str, suffix: str) -> Path:
        return self.root / self.browser_failure_name(test, suffix)

    @property
    def card_png(self) -> Path:
        return self.root / self.CARD_PNG

    @property
    def card_html(self) -> Path:
        return self.root / self.CARD_HTML

    @property
    def card_json(self) -> Path:
        return self.root / self.CARD_JSON

    @classmethod
    def junit_name(cls, op: str) -> str:
        """`junit-<op>.xml` (`junit_name("*")`: the pattern of every tier's)."""
        return f"junit-{op}.xml"

    @classmethod
    def junit_op(cls, name: str) -> str:
        """The op of a `junit-<op>.xml`."""
        return name.removeprefix("junit-").removesuffix(".xml")

    @classmethod
    def log_name(cls, name: str) -> str:
        """`logs/<name>.log` (`log_name("tier-*")`: the pattern of every tier's)."""
        return f"{cls.LOGS}/{name}.log"

    def junit(self, op: str) -> Path:
        return self.root / self.junit_name(op)

    def log(self, name: str) -> Path:
        """`logs/<name>.log`: tier-<op>, deploy-<n>, convergence-<service>, install_steps, traceback,
        abra, card."""
        return self.root / self.log_name(name)

    @classmethod
    def tier_log_name(cls, op: str) -> str:
        """`logs/tier-<op>.log`, the tier's pytest output (`tier_log_name("*")`: every tier's)."""
        return cls.log_name(f"tier-{op}")

    def tier_log(self, op: str) -> Path:
        return self.root / self.tier_log_name(op)

    @classmethod
    def convergence_log_name(cls, service: str) -> str:
        """`logs/convergence-<service>.log` (`convergence_log_name("*")`: every service's)."""
        return cls.log_name(f"convergence-{service}")

    def convergence_log(self, service: str) -> Path:
        """Why a service did not converge (its tasks' errors), one file per service."""
        return self.root / self.convergence_log_name(service)

    @classmethod
    def deploy_log_name(cls, deployment: int | str) -> str:
        """`logs/deploy-<n>.log`: what `docker stack deploy` said (`deploy_log_name("*")`: every deploy's)."""
        return cls.log_name(f"deploy-{deployment}")

    def deploy_log(self, deployment: int) -> Path:
        return self.root / self.deploy_log_name(deployment)

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
