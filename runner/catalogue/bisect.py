"""Bisect a regression to its first bad commit (docs/bisect.md).

Given a commit the recipe was good at and a later one it is bad at, the commits between them on the
bad one's first-parent line are searched by halves. The bad commit is run first, with the stages
asked for: where its ladder stops is the *lost rung*, and every further run performs only the ops
that reach that rung (read from the lifecycle: the rungs' ops and what they need). A run is bad when
it does not reach the lost rung. That is ⌈log2(n)⌉ + 1 runs at most for n commits.

A run that could not be made (no results: the harness, the swarm or git failed, or the harness
refused the commit as bad input) says nothing about the commit: it is tried once more from scratch,
and when that fails too the bisect stops and says so; it never calls such a commit bad.

Pure apart from git: the runs are made by the `RunOne` it is handed, the user is told through `Say`.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from runner.catalogue.model import CatalogueRecipe, RunOne, RunOutcome, Say
from runner.errors import BadInput, ExecError
from runner.ops import LIFECYCLE
from runner.plumbing.proc import ExecResult
from runner.recipe import git, repos
from runner.run.lifecycle import Lifecycle

SHORT = 12  # characters of a sha shown to the user


@dataclass
class BisectResult:
    """`first_bad`: the first commit that does not reach the lost rung (its sha and subject), or
    None with `why` saying why there is none; `runs`: every run made, in order (retries included)."""

    first_bad: str | None
    subject: str
    runs: list[RunOutcome] = field(default_factory=list)
    why: str = ""
    stopped: bool = False  # a run could not be made twice: nothing is known past `runs`


def bisect(recipe: CatalogueRecipe, good: str, bad: str, stages: str, run: RunOne, say: Say) -> BisectResult:
    """The first commit after `good`, up to `bad`, on `bad`'s first-parent line, that does not reach
    the rung `bad` lost when run with `stages`. Unknown commits, or `good` not an ancestor of `bad`:
    BadInput, as are unknown stages."""
    stages = _stages(stages, LIFECYCLE)
    with local_repo(recipe) as repo:
        good_sha, bad_sha = _commit(repo, good, "--good", recipe.name), _commit(repo, bad, "--bad", recipe.name)
        if good_sha == bad_sha:
            return BisectResult(None, "", why=f"the commit did not move (good and bad are both {good_sha[:SHORT]}): "
                                "an image or the host changed, not the recipe; there is nothing to bisect")
        if not _is_ancestor(repo, good_sha, bad_sha):
            raise BadInput(f"--good {good!r} is not an ancestor of --bad {bad!r} in {recipe.name}; "
                           "give the commit it was good at, then a later one it is bad at")
        commits = first_parent_commits(repo, good_sha, bad_sha)
        result = _search(recipe, commits, stages, run, say, LIFECYCLE)
        if result.first_bad:
            result.subject = git.git(repo, "log", "-1", "--format=%s", result.first_bad)
        return result


def max_runs(n: int) -> int:
    """The most runs a bisect over `n` commits (good excluded, bad included) makes, retries aside."""
    return math.ceil(math.log2(n)) + 1


def stages_to_reach(rung: int, stages: str, lifecycle: Lifecycle = LIFECYCLE) -> str:
    """The ops of `stages` that climbing to `rung` takes: those of every rung up to it, and what they
    need, in lifecycle order. A rung below whose ops are not in `stages` is left out: it is not
    applicable (EXPECTED_NA) or every run stops there alike."""
    asked = set(lifecycle.stages(_names(stages)))
    climb = [op for _, ops in lifecycle.rungs[:rung] for op in ops if op in asked]
    return ",".join(lifecycle.stages(climb))


def first_parent_commits(repo: Path, good: str, bad: str) -> list[str]:
    """The commits after `good` up to `bad` on `bad`'s first-parent line, oldest first."""
    return git.git(repo, "rev-list", "--first-parent", "--reverse", f"{good}..{bad}").split()


@contextmanager
def local_repo(recipe: CatalogueRecipe) -> Iterator[Path]:
    """A git repo of the recipe to list its commits: a local path as it is, a bundled recipe's
    built repo, else a bare clone of its URL (the catalogue's `repo`, or the enrolled name's) that
    is removed afterwards."""
    source = recipe.repo or (None if repos.is_bundled(recipe.name) else _enrolled_url(recipe.name))
    if source is None:
        yield repos.bundled_recipe_repo(recipe.name)
    elif Path(source).expanduser().is_dir():
        yield Path(source).expanduser()
    else:
        with tempfile.TemporaryDirectory(prefix="ccci-bisect-") as tmp:
            try:
                git.git(None, "clone", "-q", "--bare", source, tmp)
            except ExecError as err:
                raise BadInput(f"{recipe.name}: its repo could not be cloned from {source}: {err}") from None
            yield Path(tmp)


def _enrolled_url(name: str) -> str:
    # the run reads the same variable (RunConfig.recipe_url_template); the bisect lists what it clones
    return os.environ.get("CCCI_RECIPE_URL_TEMPLATE", repos.DEFAULT_URL_TEMPLATE).format(name=name)


def _names(stages: str) -> list[str]:
    return [name.strip() for name in stages.split(",") if name.strip()]


def _stages(stages: str, lifecycle: Lifecycle) -> str:
    """`stages` as a run performs them: what they need added, in lifecycle order."""
    try:
        ops = lifecycle.stages(_names(stages))
    except ValueError as err:
        raise BadInput(f"--stages: {err}") from None
    if not ops:
        raise BadInput("--stages: empty; name at least one op, e.g. install")
    return ",".join(ops)


def _commit(repo: Path, ref: str, flag: str, name: str) -> str:
    if ref.startswith("-"):
        raise BadInput(f"{flag} {ref!r} is not a commit; give a sha, branch or tag")
    try:
        return git.rev_parse(repo, ref)
    except ExecError:
        raise BadInput(f"{flag} {ref!r} is not a commit of {name}'s repo; give a sha, branch or tag of it") from None


def _is_ancestor(repo: Path, older: str, newer: str) -> bool:
    try:
        git.git(repo, "merge-base", "--is-ancestor", older, newer)
    except ExecError as err:
        if isinstance(err.result, ExecResult) and err.result.exit_code == 1:  # git's "no", not a failure
            return False
        raise
    return True


class _Stopped(Exception):
    """A run could not be made twice in a row: the bisect stops here."""


class _Search:
    """One bisect's runs: numbered steps, a retry for a run that could not be made."""

    def __init__(self, recipe: CatalogueRecipe, run: RunOne, say: Say, steps: int) -> None:
        self.recipe, self.run, self.say, self.steps = recipe, run, say, steps
        self.runs: list[RunOutcome] = []

    def level_at(self, commit: str, stages: str, rung: int | None) -> RunOutcome:
        """A run of `commit` that was made (retried once when not); `rung`: the lost one, for the
        progress line (None: not known yet)."""
        step = len([r for r in self.runs if r.commit is not None]) + 1
        for attempt in ("", " (retry)"):
            outcome = self.run(self.recipe, commit, stages)
            self.runs.append(outcome)
            if outcome.commit is not None:
                judged = "" if rung is None else (" good" if outcome.level >= rung else " bad")
                self.say(f"step {step}/{self.steps}{attempt}: {commit[:SHORT]} {stages} … L{outcome.level}{judged} "
                         f"({outcome.verdict}, run {outcome.run_id})")
                return outcome
            self.say(f"step {step}/{self.steps}{attempt}: {commit[:SHORT]} {stages} … could not be made "
                     f"(exit {outcome.exit_code}{': ' + outcome.error if outcome.error else ''})")
        raise _Stopped(f"the run of {commit[:SHORT]} could not be made twice "
                       f"(exit {outcome.exit_code}{': ' + outcome.error if outcome.error else ''}); "
                       "that says nothing about the commit, so the bisect stopped there — "
                       "fix the substrate and run it again")


def _search(recipe: CatalogueRecipe, commits: list[str], stages: str, run: RunOne, say: Say,
            lifecycle: Lifecycle) -> BisectResult:
    search = _Search(recipe, run, say, max_runs(len(commits)))
    say(f"bisecting {recipe.name}: {len(commits)} commit(s) after the good one, at most {search.steps} run(s)")
    try:
        return _halves(search, commits, stages, lifecycle)
    except _Stopped as stop:
        return BisectResult(None, "", search.runs, why=str(stop), stopped=True)


def _halves(search: _Search, commits: list[str], stages: str, lifecycle: Lifecycle) -> BisectResult:
    bad = search.level_at(commits[-1], stages, None)
    rung = bad.level + 1
    asked = lifecycle.stages(_names(stages))
    lost = lifecycle.rungs[rung - 1] if rung <= len(lifecycle.rungs) else None
    if bad.passed or lost is None or not set(lost[1]) & set(asked):
        why = (f"{commits[-1][:SHORT]} reaches L{bad.level} ({bad.verdict}), every rung `{stages}` climbs: "
               "it is not bad at these stages; nothing to bisect")
        return BisectResult(None, "", search.runs, why=why)
    needed = stages_to_reach(rung, stages, lifecycle)
    search.say(f"{commits[-1][:SHORT]} stops below L{rung} {lost[0]}: bisecting with stages {needed}")
    low, high = -1, len(commits) - 1  # commits[low] reaches the rung (-1: the good one), commits[high] does not
    while high - low > 1:
        mid = (low + high) // 2
        if search.level_at(commits[mid], needed, rung).level >= rung:
            low = mid
        else:
            high = mid
    why = f"the first commit that does not reach L{rung} {lost[0]}" + \
        (f"; its parent {commits[high - 1][:SHORT]} does" if high else "; the good commit, its parent, does")
    return BisectResult(commits[high], "", search.runs, why=why)
