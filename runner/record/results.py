"""Verdicts, exit codes and the run's reports: results.json, summary.md, console summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from runner.errors import EXIT_ASSERTION_FAILED, EXIT_EMPTY, EXIT_INFRA, EXIT_PASS
from runner.maintainer.repolocal import RepoLocal
from runner.plumbing.fileio import write_json_atomic, write_text_atomic
from runner.plumbing.scrub import scrubber
from runner.record.ladder import Ladder, Rungs, climb
from runner.run.rundir import RunDir
from runner.run.runindex import record_run
from runner.tiers.tier import TierResult

NOT_IN_STAGES = "not in STAGES"  # the skip reason of an op the run was not asked for
VERDICT_ICONS = {"pass": "✅", "fail": "❌", "error": "💥", "skip": "⏭️", "empty": "∅"}


@dataclass
class RunResult:
    run_id: str
    recipe: str
    ref: str | None
    pr: int | None
    stages: list[str]
    run_dir: str
    catalogue: str | None = None  # a `cc-ci catalogue run`'s own run: the recipe's name in the catalogue
    domain: str | None = None
    stack: str | None = None
    head_commit: str | None = None
    base: str | None = None  # the release the first deploy installed when upgrading
    base_reason: str | None = None
    deploy_count: int = 0  # the run's app's; every further app is deployed once too (restore-fresh's floor)
    apps: int = 0  # apps the run created: 1, or 2 with restore-fresh's fresh app
    deployments: list[dict[str, Any]] = field(default_factory=list)
    tiers: list[TierResult] = field(default_factory=list)
    error: str | None = None
    error_exit_code: int | None = None  # the failing error's own code (2 for bad input found late)
    error_detail: list[str] = field(default_factory=list)  # e.g. a hook's traceback through the maintainer's files
    error_op: str | None = None  # the op (or hop) whose performing failed, when one did: the first cause
    teardown_leftovers: list[str] | None = None  # None: teardown never ran (nothing deployed)
    reclaim: str | None = None  # with leftovers: the `cc-ci gc` command that removes them
    teardown_s: float = 0.0
    op_durations: dict[str, float] = field(default_factory=dict)  # time each op took to perform
    # op -> started_s (after the run started), duration_s, docker_wait_s: the dashboard's timeline
    op_timeline: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)  # op -> its warnings and information
    # what an operator must act on before upgrading a real app to the head (a new secret to generate):
    # not a failure, never silent (ops/upgrade.py, recipe/upgradenotes.py)
    upgrade_notes: list[str] = field(default_factory=list)
    waits_s: dict[str, float] = field(default_factory=dict)  # time spent waiting on docker, restic (plumbing.timing)
    # phase (clone, check, planning, op, tier, teardown) -> wall_s, waits_s: where the rest went (plumbing.timing)
    phases_s: dict[str, dict[str, float]] = field(default_factory=dict)
    startup_s: float | None = None  # the process's start until the run's (interpreter, imports); None: unknown
    duration_s: float = 0.0
    repo_local: RepoLocal | None = None  # the gate's decision about the recipe repo's cc-ci/
    meta: dict[str, Any] = field(default_factory=dict)  # the effective recipe_meta settings
    rungs: Rungs = ()  # the ladder's shape: (rung, its ops) by level, from the run's lifecycle
    # the recipe's DEPS as provided to this run (`ProvidedDep.result`: name, version, reused or fresh,
    # provisioning time, the shared app's stack, or why it could not be provided); no provisioned value
    deps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return verdict_of(self.tiers, self.error, self.teardown_leftovers)

    @property
    def exit_code(self) -> int:
        if self.error and self.error_exit_code:
            return self.error_exit_code
        return {"pass": EXIT_PASS, "fail": EXIT_ASSERTION_FAILED, "empty": EXIT_EMPTY}.get(self.verdict, EXIT_INFRA)

    @property
    def ladder(self) -> Ladder:
        return climb({t.op: (t.verdict, t.error) for t in self.tiers}, self.meta.get("EXPECTED_NA") or {}, self.rungs)

    def add_skipped_tiers(self, ops: tuple[str, ...]) -> None:
        """Every op gets a row: the ones that did not run are `skip`, with why. An op's steps
        (`upgrade@<release>`: the hops of a chain) keep their rows, right before the op's own."""
        done = {t.op: t for t in self.tiers}
        steps = {op: [t for t in self.tiers if t.op.startswith(f"{op}@")] for op in ops}
        self.tiers = [row for op in ops for row in [*steps[op], done.get(op) or TierResult(
            op, "skip", error="not reached" if op in self.stages else NOT_IN_STAGES)]]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        ladder = self.ladder
        data |= {"repo_local": self.repo_local.to_json() if self.repo_local else None,
                 "level": ladder.level, "ladder": [asdict(rung) for rung in ladder.rungs],
                 "ladder_stop": ladder.text()}
        data |= {"verdict": self.verdict, "exit_code": self.exit_code,
                 "teardown_clean": self.teardown_leftovers == [] if self.teardown_leftovers is not None else None}
        return data


def _apps_text(result: RunResult) -> str:
    return f" per app · apps: {result.apps}" if result.apps > 1 else ""


def verdict_of(tiers: list[TierResult], error: str | None, leftovers: list[str] | None) -> str:
    """error beats fail beats empty beats pass: an op or infra failure, or a dirty teardown, is
    an error; a run whose tiers found nothing wrong but one of which asserted nothing is `empty`,
    never a plain pass."""
    if error or leftovers or any(t.verdict == "error" for t in tiers):
        return "error"
    if any(t.verdict == "fail" for t in tiers):
        return "fail"
    if any(t.verdict == "empty" for t in tiers):
        return "empty"
    return "pass"


OVERLAY_NOTES = "overlay"  # RunResult.notes key of what the maintainer's folders hold that nothing reads


def _ahead_lines(result: RunResult) -> list[str]:
    """What the maintainer should see before anything else: their files that nothing ran."""
    lines = [f"- `{line}`" for line in result.notes.get(OVERLAY_NOTES, [])]
    if result.repo_local and result.repo_local.ignored:
        lines.append("- " + _repo_local_markdown(result.repo_local))
    return ["**not run, check your files:**", "", *lines, ""] if lines else []


def summary_markdown(result: RunResult) -> str:
    icon = VERDICT_ICONS
    lines = [
        f"### cc-ci {icon.get(result.verdict, '')} {result.verdict}: `{result.recipe}`"
        + (f" @ `{result.ref}`" if result.ref else ""),
        "",
        f"run `{result.run_id}` · deploy-count {result.deploy_count}{_apps_text(result)} · {result.duration_s:.0f}s",
        "",
        *_ahead_lines(result),
        *_why_lines(result),
        *_upgrade_notes_lines(result.upgrade_notes),
        *_deps_markdown(result.deps),
        "| tier | verdict | tests | time |",
        "|---|---|---|---|",
    ]
    for tier in (t for t in result.tiers if t.verdict != "skip"):
        lines.append(f"| {tier.op} | {icon.get(tier.verdict, '')} {tier.verdict} | {tier_text(tier) or '-'} | {tier.duration_s:.1f}s |")
    # a tier nobody asked for is no news to the maintainer; the ladder says what it would climb
    skipped = [f"{t.op} ({t.error})" for t in result.tiers if t.verdict == "skip" and t.error != NOT_IN_STAGES]
    if skipped:
        lines += ["", "skipped: " + ", ".join(skipped)]
    empty = [f"{t.op} ({t.error})" for t in result.tiers if t.verdict == "empty"]
    if empty:
        lines += ["", "**nothing checked** in: " + ", ".join(empty) + ". An empty tier is never a pass."]
    if result.base:
        lines += ["", f"upgrade base: `{result.base}` ({result.base_reason})"]
    op_notes = {op: notes for op, notes in result.notes.items() if op != OVERLAY_NOTES}
    if op_notes:
        lines += ["", *notes_lines(op_notes, prefix="- ")]
    lines += ["", *_ladder_markdown(result.ladder), *_stages_hint(result)]
    if result.repo_local and result.repo_local.approved and result.repo_local.message():
        lines += ["", _repo_local_markdown(result.repo_local)]
    if result.error:
        lines += ["", f"**error:** {result.error}"]
        if result.error_detail:
            lines += ["", "```", *result.error_detail, "```"]
    lines += ["", _teardown_text(result.teardown_leftovers, result.reclaim), *_host_lines(result)]
    return scrubber.scrub("\n".join(lines) + "\n")


SUMMARY_REASON_CHARS = 400
RUN_PAGE_SENTENCE = "The run page has each tier's full output."  # the bridge makes it a link


def _why_lines(result: RunResult) -> list[str]:
    """Each failed or errored tier's first failure in a line, in lifecycle order: the op that
    failed first (the first cause), then the tiers whose assertions failed."""
    lines = []
    for tier in result.tiers:
        if tier.verdict == "error":
            text = tier.error or result.error or "the op failed"
        elif tier.verdict == "fail":
            text = tier.first_failure or counts_text(tier)
        else:
            continue
        lines.append(f"- **{tier.op}** {VERDICT_ICONS[tier.verdict]} {_clip(' '.join(text.split()))}")
    if result.error and not any(t.verdict == "error" for t in result.tiers):
        lines.append(f"- 💥 {_clip(result.error)}")
    return ["**why:**", "", *lines, "", RUN_PAGE_SENTENCE, ""] if lines else []


def dep_text(dep: dict[str, Any]) -> str:
    """`sso-tiny 1.0.0+0.1: reused (sso-tiny-1a2b3c4d_ccci_test), provisioned in 0.4s`, or why it was not provided."""
    head = f"{dep.get('name')} {dep.get('version') or 'head'}"
    if dep.get("error"):
        return f"{head}: NOT PROVIDED — {dep['error']}"
    how = "reused" if dep.get("reused") else "fresh"
    return f"{head}: {how} ({dep.get('stack')}), provisioned in {dep.get('provision_s') or 0.0:.1f}s"


def _deps_markdown(deps: list[dict[str, Any]]) -> list[str]:
    if not deps:
        return []
    return ["**dependencies:**", "", *(f"- {_clip(dep_text(dep))}" for dep in deps), ""]


def _upgrade_notes_lines(notes: list[str]) -> list[str]:
    if not notes:
        return []
    return ["**before upgrading** (an operator's to-do; not a failure):", "", *(f"- {note}" for note in notes), ""]


def _stages_hint(result: RunResult) -> list[str]:
    """When the run stopped short of a rung only because it was not asked for (the default
    stages do not upgrade, back up or restore): how to ask for it on the PR."""
    stop = result.ladder.stopped_at
    if stop is None or stop.state != "skip" or NOT_IN_STAGES not in (stop.reason or ""):
        return []
    missing = [op for name, ops in result.rungs if name == stop.name for op in ops if op not in result.stages]
    if not missing:
        return []
    wanted = [*result.stages, *missing]
    return ["", f"To climb L{stop.level} {stop.name}, comment `!testme stages={','.join(wanted)}`."]


def _host_lines(result: RunResult) -> list[str]:
    """What this CI host did differently (dnsrr without IPVS): nothing a maintainer acts on, so
    folded away below the report."""
    overrides = list(dict.fromkeys(o for d in result.deployments for o in d.get("overrides", [])))
    if not overrides:
        return []
    return ["", "<details><summary>about this CI host</summary>", "",
            *(f"deploy override: {override}" for override in overrides), "", "</details>"]


def _clip(text: str, limit: int = SUMMARY_REASON_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _ladder_markdown(ladder: Ladder) -> list[str]:
    marks = {True: "✅", False: "⬜"}
    lines = [f"**level L{ladder.level}**" + (f" — stopped at L{s.level} {s.name}: {s.reason}"
                                            if (s := ladder.stopped_at) else " — every rung climbed"), ""]
    for rung in ladder.rungs:
        note = f" ({rung.reason})" if rung.state == "n/a" else ""
        lines.append(f"- {marks[rung.climbed]} L{rung.level} {rung.name}: {rung.state}{note}")
    return lines


def _repo_local_markdown(repo_local: RepoLocal) -> str:
    if repo_local.approved:
        return f"repo-local `cc-ci/` (tree `{(repo_local.tree or '')[:8]}`) approved {repo_local.approval}: " + \
            ", ".join(f"`{f}`" for f in repo_local.files)
    return (f"**repo-local `cc-ci/` not approved**: ignored {', '.join(f'`{f}`' for f in repo_local.ignored)}. "
            f"To run them, a cc-ci maintainer reviews them and adds `{repo_local.to_approve}` (exactly this content) "
            f"or `{repo_local.recipe}` (any commit) to `{Path(repo_local.allowlist).name}`.")


def _teardown_text(leftovers: list[str] | None, reclaim: str | None = None) -> str:
    if leftovers is None:
        return "teardown: nothing was deployed"
    if not leftovers:
        return "teardown: clean, nothing left behind"
    return "teardown: LEFT BEHIND " + ", ".join(leftovers) + (f" — reclaim with: {reclaim}" if reclaim else "")


def write_reports(result: RunResult, run_dir: RunDir) -> None:
    """The run's results, and its row in the runs dir's index (what the dashboard's lists read)."""
    write_json_atomic(run_dir.results, result.to_json())
    write_text_atomic(run_dir.summary, summary_markdown(result))
    record_run(run_dir.root)


def print_summary(result: RunResult, console: Console) -> None:
    console.print(f"[bold]cc-ci run {result.run_id}: {escape(result.recipe)}[/]")
    table = Table()
    for column in ("tier", "verdict", "tests", "time"):
        table.add_column(column)
    style = {"pass": "green", "fail": "red", "error": "bold red", "skip": "yellow", "empty": "magenta"}
    for tier in result.tiers:
        table.add_row(tier.op, f"[{style[tier.verdict]}]{tier.verdict}[/]",
                      escape(tier_text(tier) or _short(tier.error or "-")),
                      f"{tier.duration_s:.1f}s" if tier.verdict != "skip" else "")
    console.print(table)
    if result.base_reason:  # set by the upgrade's plan only, so only when the upgrade is in STAGES
        console.print(escape(f"upgrade base: {result.base or 'none'} — {result.base_reason}"), highlight=False)
    for note in result.upgrade_notes:
        console.print(escape(f"before upgrading: {note}"), highlight=False)
    for dep in result.deps:
        console.print(escape(scrubber.scrub(f"dependency: {dep_text(dep)}")), highlight=False)
    if result.repo_local and (message := result.repo_local.message()):
        console.print(escape(message), highlight=False)
    for line in notes_lines(result.notes):
        console.print(escape(scrubber.scrub(line)), highlight=False)
    if result.error:
        console.print(f"[bold red]error:[/] {escape(scrubber.scrub(result.error))}", highlight=False)
        for line in result.error_detail[1:]:  # the first is the error line again, with file and line
            console.print(escape(scrubber.scrub(line)), highlight=False)
    ladder = result.ladder
    console.print(escape(f"level: {ladder.text()}"), highlight=False)
    console.print(escape(f"ladder: {ladder.rungs_text()}"), highlight=False)
    console.print(f"deploy-count: {result.deploy_count}{_apps_text(result)}")
    console.print(escape(_teardown_text(result.teardown_leftovers, result.reclaim)), highlight=False)
    console.print(f"verdict: [{style.get(result.verdict, 'bold')}]{result.verdict}[/] "
                  f"(exit {result.exit_code}) in {result.duration_s:.1f}s — {result.run_dir}")


def notes_lines(notes: dict[str, list[str]], prefix: str = "") -> list[str]:
    """`backup: warning: backupbot.backup.pre-hok on app: …`, one line per note of each op."""
    return [f"{prefix}{op}: {note}" for op, op_notes in notes.items() for note in op_notes]


def counts_text(tier: TierResult) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in tier.counts.items())


def tier_text(tier: TierResult) -> str:
    """The tests column: counts, plus why an empty tier checked nothing, the generic opt-out or a note."""
    text = counts_text(tier) or (tier.note or "")
    if tier.verdict == "empty" and tier.error:
        text = f"{text}: {tier.error}" if text else tier.error
    return text + (" (generic floor opted out)" if tier.generic_skipped else "")


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
