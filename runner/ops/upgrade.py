"""upgrade: redeploy the same app in place at the PR head (chaos), from the base install deployed."""

from __future__ import annotations

from runner.harness import git
from runner.harness.compose import service_names, version_label
from runner.harness.envfile import compose_files, merge_upgrade_env, parse_env, secret_specs
from runner.harness.opstate import EnvDiff, OpRecord
from runner.harness.versions import choose_base
from runner.ops.base import Op, OpContext


class Upgrade(Op):
    name = "upgrade"
    converges = True

    def plan(self, ctx: OpContext) -> None:
        """Choose the base; install then deploys it instead of the head."""
        head = ctx.state.head_commit
        all_tags = git.tags(ctx.checkout)
        base, reason = choose_base(
            releases_before=git.release_tags_before(ctx.checkout, head),
            head_releases=git.tags_at(ctx.checkout, head),
            head_version_label=_head_version_label(ctx, head),
            pinned=ctx.meta.UPGRADE_BASE_VERSION,
            all_tags=all_tags,
        )
        ctx.state.base, ctx.state.base_reason = base, reason
        ctx.say(f"upgrade base: {base or 'none'} — {reason}")

    def skip_reason(self, ctx: OpContext) -> str | None:
        return None if ctx.state.base else ctx.state.base_reason

    def perform(self, ctx: OpContext) -> OpRecord:
        app = ctx.live_app
        head = ctx.state.head_commit
        sample = git.show_file(ctx.checkout, head, ".env.sample") or ""
        head_env = parse_env(sample, overrides={"DOMAIN": app.domain}, source=f"{head[:8]}:.env.sample")
        merged, added, changed, kept = merge_upgrade_env(app.env, head_env, ctx.meta.UPGRADE_EXTRA_ENV)
        ctx.say(f"upgrading {app.stack} in place: {ctx.state.base} -> {head[:12]}"
                + (f" (env: +{len(added)} ~{len(changed)})" if added or changed else ""))
        app.set_env(merged.values, secret_specs(merged))
        deployment = ctx.driver.upgrade(app, head)
        ctx.say(f"converged: version {deployment.version} (chaos {deployment.commit[:8]}) "
                f"in {deployment.duration_s:.1f}s")
        texts = _compose_texts(ctx, head, merged.values)
        return OpRecord(op=self.name, deployment=deployment, deploy_count=app.deploy_count,
                        base=ctx.state.base, base_reason=ctx.state.base_reason,
                        env_diff=EnvDiff(added=added, changed=changed, kept=kept),
                        identity=ctx.driver.deployed_identity(app),
                        declared_version=version_label(texts), declared_services=service_names(texts))


def _head_version_label(ctx: OpContext, head: str) -> str | None:
    sample = git.show_file(ctx.checkout, head, ".env.sample") or ""
    return version_label(_compose_texts(ctx, head, parse_env(sample, source=".env.sample").values))


def _compose_texts(ctx: OpContext, ref: str, env: dict[str, str]) -> list[str]:
    """The compose files of `ref` that the env's COMPOSE_FILE chains."""
    return [text for name in compose_files(env) if (text := git.show_file(ctx.checkout, ref, name)) is not None]
