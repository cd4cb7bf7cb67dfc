"""upgrade: redeploy the same app in place at the PR head (chaos), from the base install deployed.
With an upgrade chain (UPGRADE_FROM=all, <n>, or a list of releases) the base is the oldest release
of the chain and the app is upgraded in place through each newer release, one hop at a time, then
to the head; every hop gets the upgrade tier, and a hop that fails stops the chain."""

from __future__ import annotations

from pydantic import Field

from runner.errors import BadInput, ExecError
from runner.ops.base import Op, OpContext
from runner.recipe import bounded, git
from runner.recipe.compose import chain_texts, service_names, version_label
from runner.recipe.envfile import compose_files, merge_upgrade_env, parse_env, secret_specs
from runner.recipe.upgradenotes import upgrade_notes
from runner.recipe.versions import choose_base, upgrade_chain
from runner.run.lastgreen import LAST_GREEN
from runner.run.lifecycle import OpSpec
from runner.run.opstate import STEP, EnvDiff, OpPlan, OpRecord

HOP = STEP  # a hop's tier row and op-state key: `upgrade@1.1.0+1.1`


class UpgradePlan(OpPlan):
    """What the upgrade's plan decided, before anything was deployed; op_state.json holds these
    fields at its top level (`op_state.base`, `op_state.hops`)."""

    base: str | None = None  # the first deploy's release when upgrading, else None
    base_reason: str | None = None
    # an upgrade chain (UPGRADE_FROM): the releases upgraded through after the base, before the head
    hops: list[str] = Field(default_factory=list)
    skipped_releases: dict[str, str] = Field(default_factory=dict)  # release -> why the chain left it out

    @property
    def first_ref(self) -> str | None:
        return self.base or None  # install deploys the base, the upgrade then the head

    @property
    def chain(self) -> list[str]:
        """The releases deployed in turn before the head: the base, then the hops."""
        return [self.base or "", *self.hops]


class UpgradeRecord(OpRecord):
    plan_model = UpgradePlan
    base: str | None = None  # the release the upgrade started from
    base_reason: str | None = None
    env_diff: EnvDiff | None = None
    declared_version: str | None = None  # the version label the deployed ref's compose declares
    declared_services: list[str] | None = None  # the services the deployed ref's compose declares
    hop_from: str | None = None  # the release this hop started from (the base, or the hop before)
    hop_to: str | None = None  # the release a hop of a chain deployed; None: the PR head (the last hop)


class Upgrade(Op):
    spec = OpSpec("upgrade", after=("install",), needs=("install",), rung=2, record=UpgradeRecord, deploys=True,
                  pictured=True,
                  summary="redeploy the app in place at the PR head, from the base release (or through a chain)")

    def plan(self, ctx: OpContext) -> None:
        """Choose the base (and the chain's hops); install then deploys it instead of the head."""
        head = ctx.state.head_commit
        if ctx.config.upgrade_from == LAST_GREEN:
            self._plan_last_green(ctx, head)
            return
        all_tags, before, at_head = git.tags(ctx.checkout), git.release_tags_before(ctx.checkout, head), \
            git.tags_at(ctx.checkout, head)
        policy = ctx.config.upgrade_from
        previous = choose_base(releases_before=before, head_releases=at_head,
                               head_version_label=_head_version_label(ctx, head),
                               pinned=ctx.meta.UPGRADE_BASE_VERSION if policy == "previous" else None,
                               all_tags=all_tags) if policy == "previous" else (None, "")
        chain, reason = upgrade_chain(policy, before, at_head, all_tags, previous)
        skipped: dict[str, str] = {}
        for release in list(chain) if policy != "previous" else []:  # the one base is read as it always was
            why = _unreadable(ctx, release)
            if why:
                skipped[release] = why
                chain.remove(release)
                ctx.say(f"upgrade chain: skipping {release} — {why}")
        plan = UpgradePlan(base=chain[0] if chain else None, base_reason=reason, hops=chain[1:],
                           skipped_releases=skipped)
        ctx.state.plans[self.name] = plan
        shown = " -> ".join([*chain, head[:12]]) if len(chain) > 1 else plan.base or "none"
        ctx.say(f"upgrade {'chain' if len(chain) > 1 else 'base'}: {shown} — {reason}")

    def _plan_last_green(self, ctx: OpContext, head: str) -> None:
        """UPGRADE_FROM=last-green: the one base is the commit RunConfig read from the catalogue's
        history; it must be in the recipe's repo (a force-push may have dropped it)."""
        found = ctx.config.last_green
        assert found is not None  # RunConfig.from_env resolves it, or refuses the run
        try:
            base = git.rev_parse(ctx.checkout, found.commit)
        except ExecError:
            raise BadInput(f"UPGRADE_FROM=last-green: the last green commit {found.commit[:12]} "
                           f"(catalogue run {found.catalogue_run}) is not in the recipe's repo; "
                           "upgrade from `previous` instead") from None
        reason = found.reason + (" — the head itself" if base == head else "")
        ctx.state.plans[self.name] = UpgradePlan(base=base, base_reason=reason)
        ctx.say(f"upgrade base: {base[:12]} — {reason}")

    def skip_reason(self, ctx: OpContext) -> str | None:
        plan = self.planned(ctx)
        return None if plan.base else plan.base_reason

    def steps(self, ctx: OpContext) -> list[str]:
        return [f"{self.name}{HOP}{release}" for release in self.planned(ctx).hops] + [self.name]

    def perform_step(self, ctx: OpContext, step: str) -> OpRecord:
        if step == self.name:  # the last hop, to the head
            return self.perform(ctx)
        release = step.partition(HOP)[2]
        hops = self.planned(ctx).chain
        return self._hop(ctx, hops[hops.index(release) - 1], release)

    def perform(self, ctx: OpContext) -> OpRecord:
        return self._hop(ctx, self.planned(ctx).chain[-1], None)

    def planned(self, ctx: OpContext) -> UpgradePlan:
        """What `plan` decided (the base, the hops), as op_state.json holds it."""
        return ctx.state.plan_of(self.name, UpgradePlan)

    def _hop(self, ctx: OpContext, came_from: str, release: str | None) -> UpgradeRecord:
        app = ctx.live_app
        head = ctx.state.head_commit
        target = release or head
        sample = bounded.show_file(ctx.checkout, target, ".env.sample") or ""
        target_env = parse_env(sample, overrides={"DOMAIN": app.domain}, source=f"{target[:12]}:.env.sample")
        before = _compose_texts(ctx, came_from, dict(app.env))
        merged, added, changed, kept = merge_upgrade_env(app.env, target_env, ctx.meta.UPGRADE_EXTRA_ENV)
        ctx.say(f"upgrading {app.stack} in place: {came_from} -> {release or head[:12]}{env_words(added, changed)}")
        texts = _compose_texts(ctx, target, merged.values)
        notes = upgrade_notes("the head" if release is None else f"release {release}", added, changed,
                              secret_specs(merged), before, texts)
        for note in notes:  # not a failure, never silent: what an operator does that the run did itself
            ctx.say(f"before upgrading: {note}")
        app.set_env(merged.values, secret_specs(merged))
        # a release is deployed as abra upgrades to a version; the head as `upgrade --chaos`
        deployment = ctx.driver.deploy(app, release) if release else ctx.driver.upgrade(app, head)
        ctx.say(f"converged: version {deployment.version}"
                + ("" if release else f" (chaos {deployment.commit[:8]})") + f" in {deployment.duration_s:.1f}s")
        plan = self.planned(ctx)
        skipped = [f"upgrade chain: {tag} skipped — {why}" for tag, why in plan.skipped_releases.items()]
        return UpgradeRecord(op=self.name, deployment=deployment, deploy_count=app.deploy_count,
                             base=plan.base, base_reason=plan.base_reason,
                             env_diff=EnvDiff(added=added, changed=changed, kept=kept),
                             identity=ctx.target.deployed_identity(app), hop_from=came_from, hop_to=release,
                             declared_version=version_label(texts), declared_services=service_names(texts),
                             notes=skipped if release is None else [], upgrade_notes=notes)


def env_words(added: dict[str, str], changed: dict[str, tuple[str, str]]) -> str:
    """How the upgrade changes the app env, in words: `; the app env gains SMTP_HOST, SECRET_SMTP_PASSWORD_VERSION
    and changes SECRET_DB_PASSWORD_VERSION v1 -> v2`; nothing when it does not (values other than
    secret versions are not shown: UPGRADE_EXTRA_ENV may carry anything)."""
    parts = []
    if added:
        parts.append("gains " + ", ".join(added))
    if changed:
        parts.append("changes " + ", ".join(f"{key} {old} -> {new}" if key.startswith("SECRET_") else key
                                            for key, (old, new) in changed.items()))
    return f"; the app env {' and '.join(parts)}" if parts else ""


def _unreadable(ctx: OpContext, release: str) -> str | None:
    """Why a release's compose chain cannot be read (no .env.sample, a file of COMPOSE_FILE missing
    or not YAML); None when it can."""
    try:
        sample = bounded.show_file(ctx.checkout, release, ".env.sample")
    except bounded.RecipeFileError as err:
        return str(err)
    if sample is None:
        return "no .env.sample at that release"
    try:
        env = parse_env(sample, source=f"{release}:.env.sample").values
    except Exception as err:  # noqa: BLE001 - whatever is wrong with it is the reason given
        return f".env.sample does not parse: {err}"
    for name in compose_files(env):
        try:
            text = bounded.show_file(ctx.checkout, release, name)
            if text is None:
                return f"COMPOSE_FILE names {name}, which is not in the recipe at that release"
            loaded = bounded.load_yaml(text, name)
        except bounded.NotYaml as err:
            return f"{name} is not YAML: {err.problem}"
        except bounded.RecipeFileError as err:  # past a bound
            return str(err)
        if not isinstance(loaded, dict):
            return f"{name} is not a compose mapping"
    return None


def _head_version_label(ctx: OpContext, head: str) -> str | None:
    sample = bounded.show_file(ctx.checkout, head, ".env.sample") or ""
    return version_label(chain_texts(ctx.checkout, head, parse_env(sample, source=".env.sample").values))


def _compose_texts(ctx: OpContext, ref: str, env: dict[str, str]) -> dict[str, str]:
    """The compose files of `ref` that the env's COMPOSE_FILE chain names, by name."""
    return chain_texts(ctx.checkout, ref, env)
