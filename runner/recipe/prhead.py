"""A pull request's head, fetched into the run's clone the way the forge publishes it.

Gitea, Forgejo and GitHub publish every PR's head, a fork's included, as `refs/pull/<n>/head` on
the base repository; a plain clone does not fetch it, and a fork's commits are in no branch of the
base. When the forge says the head lives in another repository (a fork), that repository's
branches are a second place to look: the forge updates `refs/pull/<n>/head` after a push to the
fork, not with it. The commit found must be the head the run is bound to (REF), if it is bound.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from runner.errors import BadInput, ExecError, HeadMismatch, InfraError
from runner.recipe import git

_HEX = re.compile(r"^[0-9a-fA-F]{4,40}$")
_HEAD_REPO_REFS = "refs/ccci/head-repo"
_MISSING_REF = "couldn't find remote ref"  # git's words when the repo has no such ref


def pull_ref(pr: int) -> str:
    return f"refs/pull/{pr}/head"


def fetch_pr_head(checkout: Path, pr: int, bound: str | None, head_repo: str | None,
                  say: Callable[[str], None]) -> str:
    """The commit to test for PR `pr`: `refs/pull/<pr>/head` of the clone's origin, or, when that
    is missing or not at `bound`, the tip of a branch of `head_repo` that is `bound`."""
    published = _fetch_published(checkout, pr)
    if published is not None and (bound is None or _is(checkout, published, bound)):
        say(f"PR #{pr}: head {published[:12]} ({pull_ref(pr)} of the recipe repo)")
        return published
    if head_repo is not None and bound is not None:
        tip = _bound_tip_in(checkout, head_repo, bound)
        if tip is not None:
            say(f"PR #{pr}: head {tip[:12]} (a branch of {head_repo}, the PR's head repository)")
            return tip
    if published is None and head_repo is None:
        raise BadInput(f"PR: the recipe repo has no {pull_ref(pr)}; is #{pr} a pull request of it? "
                       "(nothing was deployed)")
    found = f"{pull_ref(pr)} is {published[:12]}" if published else f"there is no {pull_ref(pr)}"
    if head_repo is not None:
        found += f", and no branch of {head_repo} is at it"
    raise HeadMismatch(f"PR #{pr}: the run is bound to head {bound}, but {found}; the PR moved "
                       "since the run was asked for: test its new head (nothing was deployed)")


def _fetch_published(checkout: Path, pr: int) -> str | None:
    try:
        git.git(checkout, "fetch", "-q", "--no-tags", "origin", f"+{pull_ref(pr)}:{pull_ref(pr)}")
    except ExecError as err:
        if _MISSING_REF in str(err):
            return None  # the caller says what a missing ref means
        # Any other reason (the forge refused, went away) is the forge's answer: say it as is.
        raise InfraError(f"PR: {pull_ref(pr)} could not be fetched from the recipe repo: "
                         f"{str(err).split(': ', 1)[-1]} (nothing was deployed)") from None
    return git.rev_parse(checkout, pull_ref(pr))


def _bound_tip_in(checkout: Path, head_repo: str, bound: str) -> str | None:
    try:
        git.git(checkout, "fetch", "-q", "--no-tags", "--", head_repo, f"+refs/heads/*:{_HEAD_REPO_REFS}/*")
    except ExecError as err:
        raise BadInput(f"PR_HEAD_REPO: {head_repo} could not be fetched: {str(err).split(': ', 1)[-1]}") from None
    tips = git.git(checkout, "for-each-ref", "--format=%(objectname)", f"{_HEAD_REPO_REFS}/").split()
    return next((tip for tip in tips if _is(checkout, tip, bound)), None)


def _is(checkout: Path, commit: str, bound: str) -> bool:
    """Is `commit` what `bound` names: a commit id (or a prefix of one), else a branch or tag?"""
    if _HEX.match(bound) and commit.lower().startswith(bound.lower()):
        return True
    try:
        return git.rev_parse(checkout, bound) == commit
    except ExecError:
        return False
