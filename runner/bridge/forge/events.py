"""What the bridge receives: webhook payloads (validated at the edge) turned into CommentEvents.

Webhook and poller both produce a CommentEvent; from there on there is one intake path.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from pydantic import BaseModel, ConfigDict, ValidationError

# Gitea/Forgejo send PR comments as `issue_comment` with `is_pull: true`; newer versions also
# name the hook type `pull_request_comment` in X-Gitea-Event-Type.
COMMENT_EVENTS = frozenset({"issue_comment", "pull_request_comment"})
EVENT_HEADERS = ("x-gitea-event", "x-forgejo-event", "x-gogs-event", "x-github-event")


class RepoNamed:
    """`owner` and `name` of an `owner/name` repo field."""

    repo: str

    @property
    def owner(self) -> str:
        return self.repo.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.repo.split("/", 1)[1]


@dataclass(frozen=True)
class CommentEvent(RepoNamed):
    repo: str  # "owner/name" as the forge spells it
    number: int  # issue or PR index
    comment_id: int
    body: str
    author: str
    is_pull: bool
    source: str  # "webhook" or "poll"
    # When the comment got this body, by the forge's clock (its updated_at; RFC 3339). Empty when
    # unknown (inbox rows stored by an older bridge): intake then asks the forge.
    commented_at: str = ""
    edited: bool = False  # the webhook's action was `edited` (the comment existed before)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> CommentEvent:
        return cls(**json.loads(text))


def delivery_key(repo: str, comment_id: int) -> str:
    """One key per comment, whichever way it arrived: a webhook retry and a poll collapse to it."""
    return f"{repo.lower()}#comment-{comment_id}"


def coalesce_key(repo: str, pr: int, head_sha: str, stages: tuple[str, ...]) -> str:
    """Equal for two requests that would run the same thing; at most one such job is queued."""
    return f"{repo.lower()}#{pr}@{head_sha.lower()}:{','.join(stages)}"


class _Edge(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _User(_Edge):
    login: str


class _Repository(_Edge):
    full_name: str


class _Issue(_Edge):
    number: int
    pull_request: dict[str, object] | None = None


class _Comment(_Edge):
    id: int
    body: str = ""
    user: _User
    created_at: str = ""
    updated_at: str = ""


class IssueCommentPayload(_Edge):
    """The fields of Gitea's issue_comment webhook payload that the bridge reads."""

    action: str
    issue: _Issue
    comment: _Comment
    repository: _Repository
    is_pull: bool | None = None

    def to_event(self) -> CommentEvent:
        return CommentEvent(
            repo=self.repository.full_name,
            number=self.issue.number,
            comment_id=self.comment.id,
            body=self.comment.body,
            author=self.comment.user.login,
            is_pull=bool(self.is_pull) or self.issue.pull_request is not None,
            source="webhook",
            commented_at=self.comment.updated_at or self.comment.created_at,
            edited=self.action == "edited",
        )


def parse_comment_payload(data: object) -> IssueCommentPayload | str:
    """The payload, or one line saying what is wrong with it."""
    try:
        return IssueCommentPayload.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        return f"{where}: {first['msg']}"


def event_name(headers: dict[str, str]) -> str:
    for name in EVENT_HEADERS:
        if headers.get(name):
            return headers[name].strip().lower()
    return ""
