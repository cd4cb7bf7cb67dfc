"""One run: prepare the recipe, gate its repo-local code, plan, create the app, then for each op in
lifecycle order: pre-op hook, perform once, record op state, assert (generic floor + overlay).
Teardown always."""

from __future__ import annotations

import contextlib
import importlib
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.markup import escape

from runner.drivers import create_driver
from runner.drivers.base import Driver
from runner.errors import BadInput, CcciError, InfraError
from runner.maintainer.allowlist import load_allowlist
from runner.maintainer.check import CheckReport, check, generic_files, show_in
from runner.maintainer.hooks import HookContext, HookError, Hooks, call_hook, load_hooks
from runner.maintainer.meta import RecipeMeta, fill_dep_env, load_meta
from runner.maintainer.problems import Shown, name_paths
from runner.maintainer.ready import wait_ready
from runner.maintainer.repolocal import TierTests, build_tier_tests, inspect
from runner.ops import LIFECYCLE, REGISTRY, Op, OpContext, lifecycle_of
from runner.pictures.shots import Pictures
from runner.plumbing import idle, timing
from runner.plumbing.fileio import write_json_atomic, write_text_atomic
from runner.plumbing.paths import TESTS_DIR
from runner.plumbing.scrub import scrubber
from runner.recipe import bounded, git, naming, repos
from runner.recipe.compose import check_recipe
from runner.recipe.prhead import fetch_pr_head
from runner.record.results import OVERLAY_NOTES, RunResult, print_summary, write_reports
from runner.run.app import App
from runner.run.config import RunConfig
from runner.run.deps import DepsProvider, mark_released, tier_deps_env
from runner.run.opstate import OpRecord, OpState, fresh_plans
from runner.run.rundir import RunDir
from runner.run.runlock import run_lock
from runner.swarm import backup as swarm_backup
from runner.swarm.gc import reclaim_command
from runner.targets import describe_target, open_target
from runner.tiers import warm_pytest
from runner.tiers.tier import TierResult, run_tier

DriverFactory = Callable[[RunConfig, Callable[[str], None]], Driver]
TierRunner = Callable[[str, list[Path], RunDir, dict[str, str]], TierResult]


class Interrupted(InfraError):
    """SIGINT or SIGTERM arrived; raised so that teardown in `finally` still runs."""


def default_driver(config: RunConfig, say: Callable[[str], None]) -> Driver:
    """The run's driver on the run's target (`CCCI_DOCKER_HOST`): an SSH host that cannot be
    reached or trusted is refused here, before anything is deployed."""
    return create_driver(config.driver, config.driver_settings, open_target(config.target_settings), say)


class Run:
    def __init__(self, config: RunConfig, console: Console | None = None,
                 driver_factory: DriverFactory = default_driver, ops: Mapping[str, Op] | None = None,
                 tests_dir: Path = TESTS_DIR, tier_runner: TierRunner = run_tier,
                 deps: DepsProvider | None = None, keep_app: bool = False) -> None:
        self.config = config
        self.deps = deps  # who deploys, shares and provisions the recipe's DEPS (`runner/deps/`)
        # a shared dependency's own run: its app outlives it when its install tier passed
        self.keep_app = keep_app
        self.kept = False  # it was: left running
        self.first_error: BaseException | None = None  # what decided the run's error (`_fail`)
        self.console = console or Console(stderr=True, highlight=False, width=_console_width())
        self.run_dir = RunDir.at(config.runs_dir, config.run_id)  # every name in it, one holder
        self.started = time.monotonic()
        startup_s = timing.process_age_s()  # before the run started: the interpreter and its imports
        self.driver_factory = driver_factory
        # the ops and the lifecycle their declarations make (order, needs, rungs, records, floors)
        self.ops = dict(ops) if ops is not None else REGISTRY
        self.lifecycle = lifecycle_of(self.ops.values()) if ops is not None else LIFECYCLE
        self.tier_runner = tier_runner
        self.pictures = Pictures(self.run_dir, self.lifecycle,  # screenshots, card; none of a shared dependency
                                 enabled=tier_runner is run_tier and not keep_app)
        self.tests_dir = tests_dir
        self.own_overlay_dir = config.overlay_dir or tests_dir / config.recipe_name
        self.tier_tests: TierTests | None = None  # built by _gate, before anything is deployed
        self._shown: Shown | None = None  # the maintainer's names of the tier tests folder's files
        self._close_target: Callable[[], None] = lambda: None  # the target's connection, once opened
        self.result = RunResult(run_id=config.run_id, recipe=config.recipe_name, ref=config.ref,
                                pr=config.pr, stages=list(config.stages), run_dir=str(self.run_dir.root),
                                catalogue=config.catalogue,
                                rungs=self.lifecycle.rungs, startup_s=startup_s)

    def say(self, message: str) -> None:
        elapsed = time.monotonic() - self.started
        line = scrubber.scrub(message)
        self.console.print(f"[dim]{elapsed:6.1f}s[/] {escape(line)}", soft_wrap=True)
        with self.run_dir.run_log.open("a") as handle:
            handle.write(f"{elapsed:7.1f}s {line}\n")

    def execute(self) -> RunResult:
        """Everything after validation. Bad input found before deploying leaves nothing behind."""
        if self.run_dir.root.exists():
            raise BadInput(f"run dir {self.run_dir.root} exists already; pick another CCCI_RUN_ID")
        self.run_dir.logs.mkdir(parents=True)
        # locked before the first log line: the dashboard (and gc) see a live run from then on,
        # never a "lost" one while it clones and checks
        with run_lock(self.run_dir.root):
            self._execute_locked()
        print_summary(self.result, self.console)
        return self.result

    def _execute_locked(self) -> None:
        waited_before, phases_before = timing.waits(), timing.phases()
        try:
            ctx, hooks = self._plan()
        except BadInput:
            self._close_target()
            shutil.rmtree(self.run_dir.root, ignore_errors=True)
            raise
        with _signals_raise_interrupted(), _closing(self._close_target):
            try:
                with self._dependencies(ctx), self._app(ctx):
                    try:
                        self._lifecycle(ctx, hooks)
                    finally:
                        warm_pytest.discard()
                        swarm_backup.discard_ahead()  # a repository initialised ahead for a backup that never came
            except CcciError as err:  # teardown or app creation failed
                self._fail(err)
            except Exception as err:  # a harness bug: keep the traceback, scrubbed, in the run log
                self._fail(err)
            finally:
                self.result.add_skipped_tiers(self.lifecycle.names)
                self.result.duration_s = time.monotonic() - self.started
                self.result.waits_s = {kind: seconds - waited_before.get(kind, 0.0)
                                       for kind, seconds in timing.waits().items()}
                self.result.phases_s = _since(phases_before, timing.phases())
                write_reports(self.result, self.run_dir)
                self.pictures.finish(self.result.to_json(), self.say)  # after the verdict

    # -- before anything is deployed --------------------------------------------------------

    def _plan(self) -> tuple[OpContext, Hooks]:
        with timing.phase("clone"):
            checkout, head = self._clone_recipe()
        with timing.phase("check"):
            tests = self._gate(checkout, head)
            self._check(tests)
            meta = self._load_meta(tests)
            hooks = load_hooks(tests.recipe_dir, self.lifecycle.names, shown=self._shown)
        with timing.phase("planning"):
            return self._planned(checkout, head, tests, meta), hooks

    def _planned(self, checkout: Path, head: str, tests: TierTests, meta: RecipeMeta) -> OpContext:
        """The driver on its target, each wanted op's plan, and the recipe checked at every ref
        the run deploys."""
        state = OpState(run_id=self.config.run_id, recipe=self.config.recipe_name, head_commit=head,
                        stages=list(self.config.stages), plans=fresh_plans(self.lifecycle.records))
        # DEPLOY_TIMEOUT is the recipe's own default, in place of the operator's
        driver_config = self.config if meta.DEPLOY_TIMEOUT is None else \
            self.config.model_copy(update={"deploy_timeout_s": meta.DEPLOY_TIMEOUT})
        driver = self.driver_factory(driver_config, self.say)
        self._close_target = driver.target.close
        self._describe_run(driver, driver_config)
        ctx = OpContext(config=self.config, driver=driver,
                        checkout=checkout, overlay_dir=tests.recipe_dir, meta=meta, state=state, say=self.say)
        for op in self._wanted():
            op.plan(ctx)
        if bounded.show_file(checkout, state.first_ref, ".env.sample") is None:  # before anything exists
            shown = naming.shown_ref(state.first_ref)  # a release by its whole tag
            raise BadInput(f"RECIPE: {self.config.recipe_name} has no .env.sample at {shown}, the "
                           "ref deployed first; a recipe needs one at every release (the app env is read from it)")
        for ref in dict.fromkeys((state.first_ref, head)):  # past a bound, or out: exit 2, nothing deployed
            check_recipe(checkout, ref, self._domain)
        # results.json's `base`, `base_reason`: what the upgrade's plan decided, as op_state.json holds it
        self.result.head_commit, self.result.base, self.result.base_reason = \
            head, state.plan_field("base"), state.plan_field("base_reason")
        return ctx

    @property
    def _domain(self) -> str:
        """The app's domain, as the driver will name it: what compose interpolation will see."""
        return naming.app_domain(self.config.recipe_name, self.config.run_id, self.config.domain_base)

    def _describe_run(self, driver: Driver, config: RunConfig) -> None:
        """run.json: how the tiers' fixtures reach this run's swarm (the driver, its settings,
        the target), so that they never rebuild defaults of their own; and the run's stages, so
        that a page following the run knows them before any op has run."""
        write_json_atomic(self.run_dir.run_json, {
            "driver": driver.name, "driver_settings": config.driver_settings.model_dump(mode="json"),
            "target": describe_target(driver.target, config.target_settings),
            "stages": list(config.stages)})

    def _gate(self, checkout: Path, head: str) -> TierTests:
        """The allowlist decides about the repo's cc-ci/ at the head; the run's tier tests folder
        gets cc-ci's own files and, only when approved, that exact tree over them."""
        repo_local = inspect(checkout, head, self.config.recipe_name, load_allowlist(self.config.approved_file))
        self.result.repo_local = repo_local
        if message := repo_local.message():
            self.say(message)
        self.tier_tests = build_tier_tests(self.run_dir.tests, self.tests_dir, self.own_overlay_dir,
                                           self.config.recipe_name, repo_local, checkout, self.lifecycle.overlay_dirs)
        self._shown = show_in(self.tier_tests, _show_own(self.own_overlay_dir))
        return self.tier_tests

    def check_only(self) -> CheckReport:
        """`cc-ci check`: what every run checks before deploying, and nothing after; the run dir
        (a clone and the tier tests folder) is removed again."""
        self.run_dir.logs.mkdir(parents=True)
        try:
            checkout, head = self._clone_recipe()
            check_recipe(checkout, head, self._domain)  # a file past a bound, or out: exit 2, as a run would
            report = self._checked(self._gate(checkout, head))
            report.head = head
            return report
        finally:
            shutil.rmtree(self.run_dir.root, ignore_errors=True)

    def _checked(self, tests: TierTests) -> CheckReport:
        return check(tests, self.own_overlay_dir, _show_own(self.own_overlay_dir), self.result.repo_local,
                     self.lifecycle, lambda op, folder: self.ops[op].overlay_files(folder) if op in self.ops else [],
                     self.config.skip_generic, collect=self.tier_runner is run_tier, recipes=self._enrolled)

    def _check(self, tests: TierTests) -> None:
        """What `cc-ci check` does, before anything is deployed: a mistake in a maintainer's file
        is bad input told at their file and line; what no tier will read is said first (a
        misnamed `test_instal.py` would otherwise go green having checked nothing of it)."""
        report = self._checked(tests)
        for line in report.notices:
            self.say(f"overlay: {line}")
        for line in report.warnings:
            self.say(f"check: warning: {line}")
        if report.notices:
            self.result.notes[OVERLAY_NOTES] = list(report.notices)
        if report.errors:
            for line in (line for problem in report.errors for line in problem.lines()):
                self.say(line)
            more = f" (and {len(report.errors) - 1} more above)" if len(report.errors) > 1 else ""
            raise BadInput(f"{report.errors[0].headline()}{more}")

    def _load_meta(self, tests: TierTests) -> RecipeMeta:
        """Validated once, here; the assertion files get the same settings from meta.json."""
        meta = load_meta(tests.recipe_dir, self.lifecycle, shown=self._shown, recipes=self._enrolled)
        self.result.meta = meta.effective()
        write_json_atomic(self.run_dir.meta_json, self.result.meta)
        return meta

    @property
    def _enrolled(self) -> list[str]:
        """The recipes a DEPS may name: bundled ones, and those beside the recipe's overlay folder."""
        return repos.enrolled_names(self.own_overlay_dir.parent)

    def _wanted(self) -> list[Op]:
        return [self.ops[name] for name in self.lifecycle.names if name in self.config.stages]

    def _clone_recipe(self) -> tuple[Path, str]:
        """The run's own clone, and the head commit under test."""
        source = self.config.recipe_source
        checkout = self.run_dir.recipe
        self.say(f"cloning {self.config.recipe_name} from {source}")
        try:
            git.git(None, "clone", "-q", "--no-hardlinks", source, str(checkout))
        except InfraError as err:
            reason = str(err).split(": ", 1)[-1]
            what = "the recipe repo" if self.config.is_path else f"{self.config.recipe!r} is not bundled and"
            raise BadInput(f"RECIPE: {what} could not be cloned from {source}: {reason}") from None
        if self.config.pr is not None:  # a fork's head is in no branch of the clone
            return checkout, fetch_pr_head(checkout, self.config.pr, self.config.ref,
                                           self.config.pr_head_repo, self.say)
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
        if self.config.is_path and not (self.config.ref or self.config.version):
            # a maintainer's clone may have any branch checked out: the run says which, and only
            # the default branch's runs count as the recipe's (its badge)
            self.result.ref = git.branch_tested(git.current_branch(checkout), git.default_branch(Path(source)), commit)
        return checkout, commit

    # -- the app's lifetime -----------------------------------------------------------------

    @contextlib.contextmanager
    def _dependencies(self, ctx: OpContext) -> Iterator[None]:
        """The recipe's DEPS, deployed or reused and provisioned for this run, leased until the
        run's own app is gone; DEPS_ENV filled from what they returned, before the first deploy.
        A dependency that could not be provided is said and recorded: the tests that require it
        go red (`requires_deps`), the run goes on."""
        if not ctx.meta.DEPS:
            yield
            return
        if self.deps is None:
            raise InfraError("recipe_meta.py names DEPS, but this run was started without a dependency "
                             "provider (runs started by cc-ci run and run_recipe_ci have one)")
        with self.deps.provide(list(ctx.meta.DEPS), ctx.target, self.say) as provided:
            ctx.deps = provided
            self.result.deps = [dep.result() for dep in provided]
            for dep in provided:
                self.say(f"dependency {dep.name}: " + (
                    f"{'reused' if dep.reused else 'deployed'} {dep.stack} ({dep.version}), provisioned "
                    f"for this run in {dep.provision_s or 0.0:.1f}s" if dep.provided else f"NOT PROVIDED — {dep.error}"))
            ctx.dep_env, missing = fill_dep_env(ctx.meta.DEPS_ENV, {d.name: d.values for d in provided if d.provided})
            for line in missing:
                self.say(f"DEPS_ENV: {line}: left out of the app env")
            yield

    @contextlib.contextmanager
    def _app(self, ctx: OpContext) -> Iterator[App]:
        """The app's whole lifetime, and that of every further app an op opens (`ctx.new_app`).
        Teardown lives here and nowhere else."""
        app = ctx.driver.new_app(self.config.recipe_name, ctx.checkout, self.config.run_id, self.run_dir.root,
                                 ref=ctx.state.first_ref)  # its env is that ref's .env.sample
        ctx.app = app
        self.result.domain, self.result.stack, self.result.apps = app.domain, app.stack, 1
        kept = False
        try:
            # stamped before anything exists, stopped before teardown: gc on another host
            # sharing the swarm tells this live run from a dead one by it
            with ctx.target.heartbeat(app), contextlib.ExitStack() as further:
                ctx.open_app = lambda name: further.enter_context(self._further_app(ctx, name))
                yield app
            kept = self.keep_app and self._green()
        finally:
            ctx.open_app = None
            self.pictures.settle()  # the camera lets go of the app before it goes
            self.kept = kept
            if kept:  # a shared dependency that passed its install floor: left running for the next runs
                # marked while this run still holds its lock: gc never sees it as an ordinary dead run
                mark_released(self.run_dir, time.time())
                self.say(f"keeping {app.stack}: a shared dependency, left running under leases (cc-ci gc removes it once idle)")
            else:
                self._teardown(ctx, app)

    def _green(self) -> bool:
        """Every tier so far passed (a shared dependency is kept only then: a broken one never is)."""
        return self.result.error is None and bool(self.result.tiers) and \
            all(tier.verdict == "pass" for tier in self.result.tiers)

    @contextlib.contextmanager
    def _further_app(self, ctx: OpContext, name: str) -> Iterator[App]:
        """A further app of the run at the PR head (restore-fresh's), with a heartbeat of its own:
        torn down and verified before the run's app, whatever happens."""
        app = ctx.driver.new_app(self.config.recipe_name, ctx.checkout, self.config.run_id, self.run_dir.root,
                                 ref=ctx.state.head_commit, name=name)
        ctx.apps[name] = app
        self.result.apps += 1
        try:
            with ctx.target.heartbeat(app):
                yield app
        finally:
            self._teardown(ctx, app)

    def _teardown(self, ctx: OpContext, app: App) -> None:
        self.say(f"tearing down {app.stack}")
        started = time.monotonic()
        leftovers: list[str] | None = None
        try:
            with _signals_deferred(), timing.phase("teardown"):
                self._remove_witnesses(ctx, app)
                leftovers = ctx.driver.teardown(app)
        finally:
            self.result.teardown_s += time.monotonic() - started
            # a teardown that raised left something we could not list: say so, never "clean"
            left = leftovers if leftovers is not None else [
                f"unknown: teardown of {app.stack} raised before checking what was left"]
            self.result.teardown_leftovers = [*(self.result.teardown_leftovers or []), *left]
            if leftovers == []:
                self.say("teardown left nothing behind")
            else:
                # the heartbeat has stopped: this host's gc reclaims it once the run is over,
                # another host's once its stamp is past the TTL
                self.result.reclaim = reclaim_command(ctx.target.address, self.run_dir.root.parent)
                self.say(f"teardown LEFT BEHIND: {', '.join(left)}; to reclaim it once this run has ended: "
                         f"{self.result.reclaim}")

    def _remove_witnesses(self, ctx: OpContext, app: App) -> None:
        """Teardown's first step, best effort: the harness's own files go before the app does
        (a driver whose volumes outlive the run must not keep them); never masks the teardown."""
        planted = ctx.state.witnesses()
        if not planted:
            return
        try:
            ctx.driver.remove_witnesses(app, planted)
        except Exception as err:
            self.say(f"could not remove the {len(planted)} witness file(s) ({_one_line(err)}); tearing down anyway")

    def _lifecycle(self, ctx: OpContext, hooks: Hooks) -> None:
        failed: str | None = None
        self.pictures.start(op.name for op in self._wanted())  # its browser launches once the installed app answers
        idle.later(lambda: importlib.import_module("httpx"))  # first needed once the app runs (its probes, tiers)
        wanted = self._wanted()
        for op in wanted:  # what an op can start making while the ops before it wait on docker
            op.ahead(ctx)
        for op in wanted:
            if failed:
                self._record_tier(TierResult(op.name, "skip", error=f"after {failed} failed"))
                continue
            try:
                reason = _expected_na(ctx.meta, op.name) or op.skip_reason(ctx)
                steps = [] if reason else op.steps(ctx)
            except Exception as err:  # deciding about the op failed: its tier is an error, the rest skip
                self._record_tier(TierResult(op.name, "error", error=_one_line(err)))
                self._fail(err)
                failed = op.name
                continue
            if reason:
                self.say(f"{op.name}: skip — {reason}")
                self._record_tier(TierResult(op.name, "skip", error=reason))
                continue
            for step in steps:
                # the op whose tier follows this step's (its pytest starts while this tier runs)
                following = op if step != steps[-1] else next(iter(wanted[wanted.index(op) + 1:]), None)
                verdict = self._step(op, ctx, hooks, step, following)
                if verdict == "error":  # the op failed (or its hook): the rest skip
                    failed = op.name
                if step != op.name and verdict not in ("pass", "skip"):  # a hop that failed stops the chain
                    self._record_tier(TierResult(op.name, verdict, error=f"{step} {verdict}: the chain stopped there"))
                    self.say(f"{op.name}: the chain stopped at {step} ({verdict})")
                    break

    def _step(self, op: Op, ctx: OpContext, hooks: Hooks, step: str, following: Op | None = None) -> str:
        """Perform one step of the op, then its tier; the tier's verdict (`error`: the op failed)."""
        started = time.monotonic()
        docker_before = timing.waits().get("docker", 0.0)
        try:
            with timing.phase("op"):
                record = self._perform(op, ctx, hooks, step, following)
        except Exception as err:  # the op failed (or its hook): its tier is an error
            took = time.monotonic() - started
            self._record_tier(TierResult(step, "error", took, error=_one_line(err)))
            # the failed op stays in the timeline (how long it tried) and is named as the first cause
            self.result.op_timeline[step] = {"started_s": started - self.started, "duration_s": took,
                                             "docker_wait_s": timing.waits().get("docker", 0.0) - docker_before}
            self.result.error_op = self.result.error_op or step
            self._fail(err if step == op.name else InfraError(f"{step}: {_one_line(err)}"))
            return "error"
        finally:
            self.result.deploy_count = ctx.live_app.deploy_count
        with timing.phase("tier"):
            return self._assert(op, ctx, record, step).verdict

    def _perform(self, op: Op, ctx: OpContext, hooks: Hooks, step: str, following: Op | None = None) -> OpRecord:
        app = ctx.live_app
        if self.tier_runner is run_tier:  # the tier's pytest (and the next's) start up while the op waits on docker
            warm_pytest.warm_up(warm_pytest.wants_browser(self._tier_files(op, ctx)[0]),
                                then=warm_pytest.wants_browser(self._tier_files(following, ctx)[0]) if following else None)
        seed = self._call_hook(op, ctx, hooks.pre.get(op.name), "pre")
        started = time.monotonic()
        docker_before = timing.waits().get("docker", 0.0)
        # retry_s=0: the camera tries again by itself, and gives up once the run ends (an install that
        # never came up would otherwise keep it looking for a container, and the run's exit waiting)
        self.pictures.while_deploying(step, app.domain, lambda: ctx.target.http_client(app, retry_s=0),
                                      self.config.deploy_timeout_s)
        record = op.perform_step(ctx, step)
        if op.converges and ctx.meta.READY_PROBE is not None:
            self._wait_ready(op, ctx)
        record = record.model_copy(update={"seed": seed, "duration_s": time.monotonic() - started})
        self._keep(ctx, op, step, record)  # a post-op hook sees what its op produced
        if (post := hooks.post.get(op.name)) is not None:
            record = record.model_copy(update={"post_seed": self._call_hook(op, ctx, post, "post")})
            self._keep(ctx, op, step, record)
        ctx.state.save(self.run_dir.op_state)
        for each in (app, *ctx.apps.values()):  # app.json of the run's app, apps/<name>/app.json of others
            write_json_atomic(each.files.app_json, each.describe())
        if record.deployment is not None:
            self.result.deployments.append({"op": step, **record.deployment.model_dump()})
        self.result.op_durations[step] = record.duration_s
        self.result.op_timeline[step] = {"started_s": started - self.started, "duration_s": record.duration_s,
                                         "docker_wait_s": timing.waits().get("docker", 0.0) - docker_before}
        if record.notes:
            self.result.notes[op.name] = list(record.notes)
        self.result.upgrade_notes += [note for note in record.upgrade_notes if note not in self.result.upgrade_notes]
        return record

    @staticmethod
    def _keep(ctx: OpContext, op: Op, step: str, record: OpRecord) -> None:
        """The step's record under its own key, and under the op's: `op_state["upgrade"]` is the latest hop."""
        if step != op.name:
            ctx.state.ops[step] = record
        ctx.state.ops[op.name] = record

    def _call_hook(self, op: Op, ctx: OpContext, hook: Callable[[HookContext], object] | None, when: str) -> object:
        if hook is None:
            return None
        self.say(f"{op.name}: {when}_{op.name} hook")
        try:
            return call_hook(hook, self._hook_ctx(op, ctx), when, self._shown)
        except HookError as err:  # told at the maintainer's file and line, with their frames
            if err.problem is not None:
                for line in err.problem.lines():
                    self.say(line)
                if not self.result.error:
                    self.result.error_detail = err.problem.lines()
            raise

    def _hook_ctx(self, op: Op, ctx: OpContext) -> HookContext:
        app = op.tier_app(ctx)
        return HookContext(
            op=op.name, app=app, op_state=ctx.state, meta=ctx.meta,
            _exec=lambda service, cmd, check=True: ctx.target.exec_in(app, service, cmd, check=check),
            _http=lambda: ctx.target.http_client(app),
            deps={dep.name: dict(dep.values) for dep in ctx.deps if dep.provided})

    def _wait_ready(self, op: Op, ctx: OpContext) -> None:
        probe = ctx.meta.READY_PROBE
        assert probe is not None
        hook_ctx = self._hook_ctx(op, ctx)
        try:
            polls, waited = wait_ready(probe, hook_ctx, ctx.meta.DEPLOY_TIMEOUT or self.config.deploy_timeout_s)
        finally:
            hook_ctx.close()
        self.say(f"{op.name}: ready — READY_PROBE ({getattr(probe, '__name__', 'probe')}) true "
                 f"after {polls} poll(s) in {waited:.1f}s")

    def _tier_files(self, op: Op, ctx: OpContext) -> tuple[list[Path], bool]:
        """The op's assertion files (generic floor, then overlays) and whether its floor was opted out."""
        tests = self.tier_tests
        assert tests is not None
        skipped = op.name in self.config.skip_generic or op.name in ctx.meta.generic_skipped(self.lifecycle.names)
        generic = [] if skipped else generic_files(tests.generic_dir, op.spec.generic_files)
        return generic + op.overlay_files(ctx.overlay_dir), skipped

    def _assert(self, op: Op, ctx: OpContext, record: OpRecord, step: str) -> TierResult:
        tests = self.tier_tests
        assert tests is not None
        files, skipped = self._tier_files(op, ctx)
        self.say(f"{step} tier: {', '.join(tests.shown(f) for f in files) or 'no assertion files'}"
                 + (" (generic floor opted out)" if skipped else ""))
        app = op.tier_app(ctx)  # the app's screenshot is taken through the http fixture's reach
        with self.pictures.during_tier(step, app.domain, lambda: ctx.target.http_client(app), self.say):
            tier = self.tier_runner(step, files, self.run_dir,
                                    self.run_dir.tier_env(step, app=app.name) | tier_deps_env(ctx.deps))
        self._name_files_as_the_maintainer(step, tier)
        tier.generic_skipped = skipped
        self._record_tier(tier)
        self.say(f"{step} tier: {tier.verdict}" + (f" — {tier.error}" if tier.error else ""))
        if tier.verdict not in ("pass", "skip"):
            log = self.run_dir.tier_log(step)
            if log.exists():
                self.console.print(escape(log.read_text()), highlight=False)
        return tier

    def _name_files_as_the_maintainer(self, step: str, tier: TierResult) -> None:
        """The tier's log, JUnit report and error line name the maintainer's files as they know
        them (`cc-ci/test_install.py:12`), never the run dir's copy (`<recipe>/test_install.py`)."""
        shown = self._shown
        if shown is None:
            return
        for path in (self.run_dir.tier_log(step), self.run_dir.junit(step)):
            if path.is_file():
                write_text_atomic(path, name_paths(path.read_text(), self.run_dir.tests, shown))
        if tier.error:
            tier.error = name_paths(tier.error, self.run_dir.tests, shown)
        if tier.first_failure:
            tier.first_failure = name_paths(tier.first_failure, self.run_dir.tests, shown)

    def _record_tier(self, tier: TierResult) -> None:
        self.result.tiers.append(tier)

    def _fail(self, err: BaseException) -> None:
        """The run's first error decides its message and exit code."""
        if self.result.error:
            return
        self.first_error = err
        self.result.error = _one_line(err)
        self.result.error_exit_code = err.exit_code if isinstance(err, CcciError) else None
        if not isinstance(err, CcciError):
            write_text_atomic(self.run_dir.log("traceback"),
                              "".join(traceback.format_exception(err)))


def _since(before: dict[str, dict[str, float]], now: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """This run's share of the process's phase totals (a process may hold several runs: tests)."""
    return {name: {key: value - before.get(name, {}).get(key, 0.0) for key, value in figures.items()}
            for name, figures in now.items() if figures != before.get(name)}


def _one_line(err: BaseException) -> str:
    return str(err) if isinstance(err, CcciError) else f"{type(err).__name__}: {err}"


def _expected_na(meta: RecipeMeta, op: str) -> str | None:
    reason = meta.EXPECTED_NA.get(op)
    return f"expected n/a: {reason}" if reason else None


def _show_own(path: Path) -> str:
    """cc-ci's own file as `tests/<recipe>/<name>` (or its CCCI_OVERLAY_DIR path)."""
    return str(path.relative_to(TESTS_DIR.parent)) if path.is_relative_to(TESTS_DIR.parent) else str(path)


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
def _closing(close: Callable[[], None]) -> Iterator[None]:
    try:
        yield
    finally:
        close()


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
