"""What every op provides, and what it is handed. Adding an op means one module here, declaring
its `OpSpec` (order, needs, rung, record model and its plan model, floor, overlay folders, deploys,
default, pictured; `runner/run/lifecycle.py`), and one line in the registry (`runner/ops/__init__.py`). docs/running.md, "Adding an op"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from runner.drivers.base import Driver
from runner.maintainer.meta import RecipeMeta
from runner.run.app import App
from runner.run.config import RunConfig
from runner.run.deps import ProvidedDep
from runner.run.lifecycle import OpSpec
from runner.run.opstate import OpRecord, OpState
from runner.targets.base import Target


@dataclass
class OpContext:
    config: RunConfig
    driver: Driver
    checkout: Path  # the run's own clone of the recipe
    overlay_dir: Path  # the run's tests/<recipe>/: overlays, ops.py, recipe_meta.py, custom/, install_steps.sh
    # (cc-ci's own files, each replaced by an approved repo-local one of the same name)
    meta: RecipeMeta
    state: OpState
    say: Callable[[str], None]
    app: App | None = None  # set once the app exists (after `plan`)
    apps: dict[str, App] = field(default_factory=dict)  # the run's further apps, by name (`new_app`)
    open_app: Callable[[str], App] | None = None  # the orchestrator's, set inside the app's lifetime
    deps: list[ProvidedDep] = field(default_factory=list)  # the recipe's DEPS, provided for this run
    dep_env: dict[str, str] = field(default_factory=dict)  # DEPS_ENV filled from them: set before the first deploy

    @property
    def target(self) -> Target:
        """Where the app is: exec, HTTP, its volumes, and what the swarm says of it."""
        return self.driver.target

    @property
    def live_app(self) -> App:
        assert self.app is not None, "ops are performed inside the app's lifetime"
        return self.app

    def new_app(self, name: str) -> App:
        """A further app of the recipe (its own domain, stack and files; the run's labels and a
        heartbeat of its own), named, not deployed yet. Its teardown and leftover check are the
        run's, with the run's app, whatever happens: its op failing, the run interrupted."""
        assert self.open_app is not None, "further apps are opened inside the app's lifetime"
        return self.open_app(name)


class Op:
    """One lifecycle op. Subclasses set `spec` and override what differs."""

    spec: ClassVar[OpSpec]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def converges(self) -> bool:
        """The op (re)deploys or rewrites the app: READY_PROBE is polled after it."""
        return self.spec.deploys

    def tier_app(self, ctx: OpContext) -> App:
        """The app this op's tier, post-op hook and READY_PROBE look at: the run's app, unless
        the op made a further one of its own (restore-fresh)."""
        return ctx.live_app

    def plan(self, ctx: OpContext) -> None:
        """Before anything is deployed: check input, decide refs (raise BadInput to refuse)."""

    def ahead(self, ctx: OpContext) -> None:
        """When the lifecycle starts, if the op is wanted: start what it will need and can make in
        the background while the ops before it wait on docker. Default: nothing."""

    def skip_reason(self, ctx: OpContext) -> str | None:
        """Why the op cannot apply to this recipe (its tier is then `skip` with the reason)."""
        return None

    def perform(self, ctx: OpContext) -> OpRecord:
        """Perform the op once, through the driver; return what it produced."""
        raise NotImplementedError

    def steps(self, ctx: OpContext) -> list[str]:
        """The op's steps, in order, each performed and asserted on its own (its own tier row and
        op-state key; `op_state["<op>"]` is always the latest): an upgrade chain's hops,
        `upgrade@<release>`, then `upgrade`. The last step is the op's own name. Default: once."""
        return [self.name]

    def perform_step(self, ctx: OpContext, step: str) -> OpRecord:
        """Perform one step (see `steps`); an op performed once needs only `perform`."""
        return self.perform(ctx)

    def overlay_files(self, overlay_dir: Path) -> list[Path]:
        """The recipe's own assertion files for this op (the generic floor is added apart)."""
        return sorted({path for glob in self.spec.overlay_globs for path in overlay_dir.glob(glob) if path.is_file()})
