"""lint: the recipe's files at the PR head checked the way abra's recipe lint does (`runner/lint/`),
before anything is deployed. Its tier fails on an error-level finding the recipe did not opt out of
(`LINT_OPT_OUT`); the lifecycle runs on either way."""

from __future__ import annotations

from pydantic import Field

from runner.lint import Finding, lint_recipe, validate_opt_outs
from runner.ops.base import Op, OpContext
from runner.run.lifecycle import OpSpec
from runner.run.opstate import OpRecord


class LintRecord(OpRecord):
    ref: str = ""  # the commit linted: the PR head
    findings: list[Finding] = Field(default_factory=list)

    @property
    def blocking(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.blocking]


class Lint(Op):
    spec = OpSpec("lint", before=("install",), rung=5, record=LintRecord, default=True, overlays=(),
                  summary="the recipe's files at the head, checked like abra's recipe lint (docs/lint.md)")

    def plan(self, ctx: OpContext) -> None:
        validate_opt_outs(ctx.meta.LINT_OPT_OUT)  # an opt-out of no rule is bad input, before anything exists

    def perform(self, ctx: OpContext) -> LintRecord:
        head = ctx.state.head_commit
        findings = lint_recipe(ctx.checkout, head, ctx.meta.LINT_OPT_OUT)
        for finding in findings:
            ctx.say(f"lint: {finding.line()}")
        blocking = sum(finding.blocking for finding in findings)
        ctx.say(f"lint {head[:12]}: {blocking} error(s), {len(findings) - blocking} other finding(s)")
        return LintRecord(op=self.name, ref=head, findings=findings,
                          deploy_count=ctx.live_app.deploy_count)
