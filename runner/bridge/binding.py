"""Binding a run to the head a member saw: a run tests only a commit that was the PR's head when
the member commented.

The forge's PR API gives the head now, not when the comment was made. The PR's timeline does:
Gitea/Forgejo record every move of the head as a `pull_push` event (its time by the forge's
clock, and the commits it brought, oldest first; a force push records old and new head). Commit
dates are set by the author and prove nothing, so they are never used.
"""

from __future__ import annotations

from datetime import datetime

from runner.bridge.forge.client import ForgeClient, Push
from runner.bridge.refusals import short
from runner.bridge.store import Job


def head_changed_since(pushes: list[Push], head_sha: str, commented_at: datetime) -> bool:
    """Did the head move at or after `commented_at`, or can the timeline not vouch for `head_sha`?

    `head_sha` must have been read from the forge *before* `pushes`: then a push that landed in
    between shows up here and refuses the run instead of slipping through. The forge's clock has
    one-second steps, so a push in the same second as the comment counts as after it. When the
    newest recorded push does not end at `head_sha`, the forge has moved the head but not yet
    written its push event (it does so asynchronously): that also counts as changed.
    """
    if any(push.at >= commented_at for push in pushes):
        return True
    if pushes:
        newest = pushes[-1].commit_ids
        return not newest or newest[-1] != head_sha.lower()
    return False  # no push recorded since the PR was opened: its head is the one it opened with


def pinned_head_matches(pinned: str, head_sha: str) -> bool:
    return head_sha.lower().startswith(pinned.lower())


def recheck_before_start(forge: ForgeClient, job: Job) -> str | None:
    """Why a queued job must not start now (the PR was closed, or its head moved while the job
    waited), as the sentence its PR comment shows; None when it may start."""
    pull = forge.get_pull(job.owner, job.name, job.pr)
    if pull is None or not pull.is_open:
        return "the PR was closed while the run waited in the queue."
    if pull.head_sha.lower() != job.head_sha.lower():
        return (
            f"the PR's head moved to {short(pull.head_sha)} while the run waited in the queue; "
            f"comment `!testme` again to test {short(pull.head_sha)}."
        )
    return None
