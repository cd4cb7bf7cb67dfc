"""install: create the app and deploy it once — at the upgrade base when upgrading, else the head."""

from __future__ import annotations

from runner.maintainer.install_steps import SCRIPT, run_install_steps
from runner.ops.base import Op, OpContext
from runner.ops.upgrade import Upgrade, UpgradePlan
from runner.recipe import git
from runner.recipe.envfile import with_values
from runner.recipe.naming import shown_ref
from runner.run.app import App
from runner.run.lifecycle import OpSpec
from runner.run.opstate import OpRecord


class InstallRecord(OpRecord):
    base: str | None = None  # the release installed when upgrading (None: the head)
    base_reason: str | None = None


class Install(Op):
    spec = OpSpec("install", rung=1, record=InstallRecord, deploys=True, default=True, can_be_na=False,
                  pictured=True, pictured_early=True,  # whatever answers first is the installed app
                  summary="create the app and deploy it once")

    def perform(self, ctx: OpContext) -> InstallRecord:
        app = ctx.live_app
        ref = ctx.state.first_ref  # new_app read the app env from this ref's .env.sample
        prepare_app_env(ctx, app, ref)
        ctx.say(f"deploying {shown_ref(ref)} as {app.domain} (stack {app.stack})")
        deployment = ctx.driver.deploy(app, ref)
        ctx.say(f"converged: version {deployment.version}{' (chaos)' if deployment.chaos else ''} "
                f"in {deployment.duration_s:.1f}s")
        witnesses = [] if ctx.meta.SKIP_WITNESSES else ctx.target.plant_witnesses(app)  # the upgrade floor's proof
        if witnesses:
            ctx.say(f"planted {len(witnesses)} witness file(s), one in the root of each volume")
        plan = ctx.state.plan_of(Upgrade.spec.name, UpgradePlan)  # the base it deployed, if any
        return InstallRecord(op=self.name, deployment=deployment, deploy_count=app.deploy_count,
                        base=plan.base, base_reason=plan.base_reason, witnesses=witnesses,
                        identity=ctx.target.deployed_identity(app))  # what the upgrade must keep


def prepare_app_env(ctx: OpContext, app: App, ref: str) -> None:
    """EXTRA_ENV, DEPS_ENV, then install_steps.sh, into an app's env file before its first deploy;
    then the app re-reads it. Every app a run creates gets it (install's, restore-fresh's)."""
    script = ctx.overlay_dir / SCRIPT
    if not ctx.meta.EXTRA_ENV and not ctx.dep_env and not script.is_file():
        return
    env_file = app.env_file
    for setting, extra in (("EXTRA_ENV", ctx.meta.EXTRA_ENV), ("DEPS_ENV", ctx.dep_env)):
        if extra:  # DEPS_ENV last: what the dependencies provisioned for this run wins
            env_file.write_text(with_values(env_file.read_text(), extra))
            ctx.say(f"{setting}: set {', '.join(extra)} in the app env")
    if script.is_file():
        git.git(ctx.checkout, "checkout", "-q", "--force", "--detach", ref)  # RECIPE_DIR at the ref deployed
        ctx.say(f"running {SCRIPT}")
        run_install_steps(script, app, env_file)
    app.reload_env()
