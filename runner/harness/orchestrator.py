"""One run: prepare the recipe, create and deploy the app once, run each tier once, tear down."""

from __future__ import annotations

import contextlib
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.markup import escape

from runner.drivers.base import App, Deployment, Driver
from runner.drivers.swarm import SwarmDriver
from runner.errors import BadInput, CcciError, InfraError
from runner.harness import git, recipes
from runner.harness.config import OPS, RunConfig
from runner.harness.fileio import read_json, write_json_atomic, write_text_atomic
from runner.harness.gc import run_lock
from runner.harness.results import RunResult, print_summary, write_reports
from runner.harness.scrub import scrubber
from runner.harness.tiers import TierResult, assertion_files, run_tier


class Interrupted(InfraError):
    """SIGINT or SIGTERM arrived; raised so that teardown in `finally` still runs."""


class Run:
    def __init__(self, config: RunConfig, console: Console | None = None) -> None:
        self.config = config
        self.console = console or Console(stderr=True, highlight=False, width=_console_width())
        self.run_dir = config.runs_dir / config.run_id
        self.started = time.monotonic()
        self.result = RunResult(run_id=config.run_id, recipe=config.recipe_name, ref=config.ref,
                                pr=config.pr, stages=list(config.stages), run_dir=str(self.run_dir))

    def say(self, message: str) -> None:
        elapsed = time.monotonic() - self.started
        line = scrubber.scrub(message)
        self.console.print(f"[dim]{elapsed:6.1f}s[/] {escape(line)}", soft_wrap=True)
        with (self.run_dir / "logs" / "run.log").open("a") as handle:
            handle.write(f"{elapsed:7.1f}s {line}\n")

    def execute(self) -> RunResult:
        """Everything after validation. Bad input found here still leaves nothing behind."""
        if self.run_dir.exists():
            raise BadInput(f"run dir {self.run_dir} exists already; pick another CCCI_RUN_ID")
        (self.run_dir / "logs").mkdir(parents=True)
        try:
            checkout, first_ref = self._prepare_recipe()
        except BadInput:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            raise
        with run_lock(self.run_dir), _signals_raise_interrupted():
            try:
                self._lifecycle(self._driver(), checkout, first_ref)
            except CcciError as err:
                self.result.error, self.result.error_exit_code = str(err), err.exit_code
            except Exception as err:  # a harness bug: keep the traceback, scrubbed, in the run log
                self.result.error = f"{type(err).__name__}: {err}"
                write_text_atomic(self.run_dir / "logs" / "traceback.log", traceback.format_exc())
            finally:
                self.result.add_skipped_tiers(OPS)
                self.result.duration_s = time.monotonic() - self.started
                write_reports(self.result, self.run_dir)
        print_summary(self.result, self.console)
        return self.result

    def _driver(self) -> Driver:
        resolve = self.config.resolve_image
        if resolve == "auto":  # bundled recipes use locally built images that no registry has
            resolve = "never" if recipes.is_bundled(self.config.recipe) else "always"
        return SwarmDriver(domain_base=self.config.domain_base, resolve_image=resolve,
                           default_timeout_s=self.config.deploy_timeout_s, say=self.say)

    def _prepare_recipe(self) -> tuple[Path, str]:
        """The run's own clone, and the ref its first (only) deploy uses."""
        source = self._recipe_source()
        checkout = self.run_dir / "recipe"
        self.say(f"cloning {self.config.recipe_name} from {source}")
        try:
            git.git(None, "clone", "-q", "--no-hardlinks", source, str(checkout))
        except InfraError as err:
            reason = str(err).split("failed: ", 1)[-1]
            what = "the recipe repo" if self.config.is_path else f"{self.config.recipe!r} is not bundled and"
            raise BadInput(f"RECIPE: {what} could not be cloned from {source}: {reason}") from None
        wanted = self.config.version or self.config.ref or "HEAD"
        for candidate in (wanted, f"origin/{wanted}"):
            try:
                commit = git.rev_parse(checkout, candidate)
                break
            except InfraError:
                continue
        else:
            var = "VERSION" if self.config.version else "REF"
            raise BadInput(f"{var}: {wanted!r} is not a commit, branch or tag of {self.config.recipe_name}")
        if self.config.version and self.config.version not in git.tags(checkout):
            raise BadInput(f"VERSION: {self.config.version!r} is not a release tag of {self.config.recipe_name}")
        return checkout, commit

    def _recipe_source(self) -> str:
        if self.config.is_path:
            return self.config.recipe
        if recipes.is_bundled(self.config.recipe):
            return str(recipes.bundled_recipe_repo(self.config.recipe))
        return recipes.recipe_url(self.config.recipe)

    def _lifecycle(self, driver: Driver, checkout: Path, first_ref: str) -> None:
        with self._app(driver, checkout) as app:
            self.say(f"deploying {first_ref[:12]} as {app.domain} (stack {app.stack})")
            deploy_started = time.monotonic()
            try:
                deployment = driver.deploy(app, first_ref)
            except CcciError as err:  # the install op itself failed: its tier is an error
                self.result.tiers.append(TierResult("install", "error", time.monotonic() - deploy_started,
                                                    error=str(err)))
                raise
            finally:
                self.result.deploy_count = app.deploy_count
            self._record_deployment("install", app, deployment)
            self.say(f"converged: version {deployment.version}{' (chaos)' if deployment.chaos else ''} "
                     f"in {deployment.duration_s:.1f}s")
            for op in self.config.stages:
                self._run_tier(op, app)

    @contextlib.contextmanager
    def _app(self, driver: Driver, checkout: Path) -> Iterator[App]:
        """The app's whole lifetime. Teardown lives here and nowhere else."""
        app = driver.new_app(self.config.recipe_name, checkout, self.config.run_id, self.run_dir)
        self.result.domain, self.result.stack = app.domain, app.stack
        try:
            yield app
        finally:
            self.say(f"tearing down {app.stack}")
            with _signals_deferred():
                leftovers = driver.teardown(app)
            self.result.teardown_leftovers = leftovers
            self.say("teardown left nothing behind" if not leftovers
                     else f"teardown LEFT BEHIND: {', '.join(leftovers)}")

    def _record_deployment(self, op: str, app: App, deployment: Deployment) -> None:
        self.result.deployments.append({"op": op, **asdict(deployment)})
        write_json_atomic(self.run_dir / "app.json", app.describe())
        state = read_json(self.run_dir / "op_state.json")
        state[op] = {"deployment": asdict(deployment), "deploy_count": app.deploy_count}
        write_json_atomic(self.run_dir / "op_state.json", state)

    def _run_tier(self, op: str, app: App) -> TierResult:
        files = assertion_files(op, app.recipe)
        self.say(f"{op} tier: {', '.join(f.name if f.parent.name == '_generic' else f'{f.parent.name}/{f.name}' for f in files)}")
        env = {"CCCI_APP_FILE": str(self.run_dir / "app.json"),
               "CCCI_OP_STATE_FILE": str(self.run_dir / "op_state.json"),
               "CCCI_OP": op}
        tier = run_tier(op, files, self.run_dir, env)
        self.result.tiers.append(tier)
        self.say(f"{op} tier: {tier.verdict}" + (f" — {tier.error}" if tier.error else ""))
        if tier.verdict != "pass":
            self.console.print(escape((self.run_dir / "logs" / f"tier-{op}.log").read_text()), highlight=False)
        return tier


@contextlib.contextmanager
def _signals_raise_interrupted() -> Iterator[None]:
    interrupted: list[int] = []

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        if interrupted:  # a second signal must not abort the teardown the first one started
            return
        interrupted.append(signum)
        raise Interrupted(f"interrupted by {signal.Signals(signum).name}; tore down before exiting")

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while tearing down; they are delivered (and raise) afterwards."""
    held = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)


def _console_width() -> int | None:
    """Logs of CI jobs are wide; rich would wrap them at 80 columns without a terminal."""
    return None if sys.stderr.isatty() else 120
