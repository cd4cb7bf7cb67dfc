"""What intake replies to a `!testme` it refuses (malformed, not a member, the head moved, a
`sha=` that is not the head, a forge that cannot vouch for the head): pure functions from the
refusal to the reply's text, which says what to do next.

Every reply starts with an invisible marker line naming the comment it answers (`reply_marker`):
the outbox's sender looks for it on the forge first, so a reply whose creation was interrupted is
found, not repeated.
"""

from __future__ import annotations

from runner.bridge.grammar import GRAMMAR_HELP


def reply_marker(comment_id: int) -> str:
    return f"<!-- cc-ci reply to comment {comment_id} -->"


def short(sha: str) -> str:
    # A commit as replies and reports name it: enough to find it, short enough to read.
    return sha[:10]


def malformed_body(reason: str) -> str:
    # The bridge reads a comment once: an edit of this one would go unnoticed.
    return (
        f"cc-ci: {reason}. No run started.\n\n{GRAMMAR_HELP}\n\n"
        "Post the corrected `!testme` as a **new comment**: edits of a comment the bridge has "
        "already answered are not read again."
    )


def unauthorised_body(login: str) -> str:
    return f"cc-ci: @{login} may not start runs here (members of the repository's organisation and allowlisted users can). No run started."


def head_moved_body(head_sha: str) -> str:
    return (
        "cc-ci: the PR changed after your comment; comment `!testme` again to test "
        f"{short(head_sha)}. No run started."
    )


def sha_mismatch_body(pinned: str, head_sha: str) -> str:
    return (
        f"cc-ci: `sha={pinned}` is not the head of this PR (the head is {short(head_sha)}); "
        f"comment `!testme` again to test {short(head_sha)}. No run started."
    )


def no_timeline_body(head_sha: str) -> str:
    return (
        "cc-ci: this forge does not say when the PR's head last changed, so a bare `!testme` "
        f"cannot be bound to the commit you saw; comment `!testme sha={head_sha}` to "
        f"test {short(head_sha)}. No run started."
    )


