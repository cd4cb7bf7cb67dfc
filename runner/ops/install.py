"""install: create the app and deploy it once — at the upgrade base when upgrading, else the head."""

from __future__ import annotations

from runner.harness.opstate import OpRecord
from runner.ops.base import Op, OpContext


class Install(Op):
    name = "install"

    def perform(self, ctx: OpContext) -> OpRecord:
        app = ctx.live_app
        ref = ctx.state.base or ctx.state.head_commit
        ctx.say(f"deploying {ref[:12]} as {app.domain} (stack {app.stack})")
        deployment = ctx.driver.deploy(app, ref)
        ctx.say(f"converged: version {deployment.version}{' (chaos)' if deployment.chaos else ''} "
                f"in {deployment.duration_s:.1f}s")
        return OpRecord(op=self.name, deployment=deployment, deploy_count=app.deploy_count,
                        base=ctx.state.base, base_reason=ctx.state.base_reason)
