"""idempotent: right after install, redeploy the installed version unchanged through the driver and
record what that changed as docker sees it: each service's spec, field by field, and its running
tasks. An unchanged `docker stack deploy` raises every service's spec version but changes no spec
and restarts no task; a recipe whose deploy is unstable (a config named with the deploy time, an
unpinned tag that moved) restarts its app on every `abra app deploy`. The verdict is the generic
floor's (`tests/_generic/test_idempotent.py`), so a changed spec is the tier's `fail`."""

from __future__ import annotations

from pydantic import Field

from runner.evidence.specdiff import restarted_tasks, spec_changes
from runner.ops.base import Op, OpContext
from runner.recipe.naming import shown_ref
from runner.run.lifecycle import OpSpec
from runner.run.opstate import OpRecord
from runner.swarm.identity import service_readings


class IdempotentRecord(OpRecord):
    redeployed: str = ""  # the ref redeployed: the one the install deployed
    services: list[str] = Field(default_factory=list)  # the services compared
    changed: dict[str, list[str]] = Field(default_factory=dict)  # service -> `<spec field> changed: <old> -> <new>`
    restarted: dict[str, str] = Field(default_factory=dict)  # service -> which running tasks were replaced


class Idempotent(Op):
    spec = OpSpec("idempotent", after=("install",), before=("upgrade",), needs=("install",), rung=None,
                  record=IdempotentRecord, deploys=True, default=True,
                  summary="redeploy the installed version unchanged: no service spec changes, no task restarts")

    def perform(self, ctx: OpContext) -> IdempotentRecord:
        app = ctx.live_app
        installed = ctx.state["install"].deployment
        assert installed is not None, "the install recorded no deployment"
        ref = installed.ref  # a release (the upgrade base) or the PR head (a chaos deploy), as installed
        client = ctx.target.client
        before = service_readings(client, app.stack)
        ctx.say(f"redeploying {shown_ref(ref)} unchanged ({len(before)} service(s))")
        deployment = ctx.driver.deploy(app, ref)  # on the live app: in place, the stack kept
        after = service_readings(client, app.stack)
        changed, restarted = spec_changes(before, after), restarted_tasks(before, after)
        ctx.say(f"redeployed in {deployment.duration_s:.1f}s: "
                + ("nothing changed" if not changed and not restarted else
                   f"{len(changed)} service spec(s) changed, {len(restarted)} service(s) restarted tasks"))
        return IdempotentRecord(op=self.name, deployment=deployment, deploy_count=app.deploy_count,
                                identity=ctx.target.deployed_identity(app), redeployed=ref,
                                services=sorted(before), changed=changed, restarted=restarted)
