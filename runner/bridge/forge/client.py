"""Client for the Gitea/Forgejo API (v1): the few endpoints the bridge uses.

Auth is `Authorization: token <token>`. Every call is retried with backoff on network errors,
5xx and 429; what still fails raises ForgeError, which callers catch and log. Every answer is
validated at this edge: a missing field, a wrong type, HTML or an empty body is a ForgeError
naming what was expected, never a KeyError somewhere inside the bridge. Path parts are
percent-encoded, so a login like `alice?x=1#` stays one path segment.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, TypeAdapter, ValidationError

from runner.bridge.forge.events import CommentEvent
from runner.bridge.retry import (
    RetryPolicy,
    expect_status,
    request_with_retry,
    retried,
    send_once,
)
from runner.errors import InfraError

log = logging.getLogger("cc-ci.bridge")

T = TypeVar("T")

COMMIT_STATES = frozenset({"pending", "success", "error", "failure", "warning"})
TIMELINE_PAGE = 50  # Gitea's default MAX_RESPONSE_ITEMS


class ForgeError(InfraError):
    """A forge API call failed for good (after retries, a non-retryable status, or an answer
    that is not what the API documents)."""


class ForgeAuthError(ForgeError):
    """The forge rejected the bridge's token (401/403): retrying cannot help, the operator must
    give a valid `forge.token`."""


AUTH_STATUSES = (401, 403)


@dataclass(frozen=True)
class ForgeFailure:
    """The last forge call that failed for good, for /healthz."""

    message: str
    at: float  # time.time()


@dataclass(frozen=True)
class PullRequest:
    number: int
    state: str  # "open" | "closed"
    merged: bool
    head_sha: str
    # where the head lives when it is not the base repository (a fork): its clone URL
    head_repo: str | None = None

    @property
    def is_open(self) -> bool:
        return self.state == "open" and not self.merged


@dataclass(frozen=True)
class RepoAccess:
    """What the bot may do in a repo, as the forge says (`GET /repos/{owner}/{repo}`)."""

    full_name: str
    can_push: bool  # write access: what commit statuses need


@dataclass(frozen=True)
class PolledComment:
    event: CommentEvent
    updated_at: str


@dataclass(frozen=True)
class ForgeComment:
    id: int
    author: str
    body: str
    updated_at: str


@dataclass(frozen=True)
class Push:
    """A `pull_push` event of a PR's timeline: the forge recorded the head moving at `at`."""

    at: datetime
    commit_ids: tuple[str, ...]  # oldest first; a force push records (old head, new head)


def rfc3339(moment: datetime) -> str:
    """A UTC timestamp as the bridge stores it (`…Z`): such strings order as the times do."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def forge_time(stamp: str) -> datetime:
    """An RFC 3339 timestamp from the forge; raises ValueError for anything else."""
    moment = datetime.fromisoformat(stamp)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {stamp!r}")
    return moment


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class _User(_Answer):
    login: str


class _Repo(_Answer):
    full_name: str | None = None
    clone_url: str | None = None


class _Head(_Answer):
    sha: str
    repo: _Repo | None = None  # Gitea/Forgejo: null when the fork was deleted


class _Base(_Answer):
    repo: _Repo | None = None


class _Pull(_Answer):
    number: int
    state: str
    merged: bool | None = None
    head: _Head
    base: _Base | None = None


class _Comment(_Answer):
    id: int
    body: str | None = None
    user: _User | None = None
    created_at: str = ""
    updated_at: str = ""
    pull_request_url: str | None = None
    issue_url: str | None = None


class _Created(_Answer):
    id: int


class _Permissions(_Answer):
    admin: bool = False
    push: bool = False
    pull: bool = False


class _RepoInfo(_Answer):
    full_name: str
    permissions: _Permissions | None = None


class _Ref(_Answer):
    ref: str


class _PullNumber(_Answer):
    number: int


class _TimelineItem(_Answer):
    type: str
    body: str | None = None
    created_at: str = ""


class _PushContent(_Answer):
    commit_ids: list[str] | None = None
    is_force_push: bool | None = None


def _parse(response: httpx.Response, shape: Any, what: str, expected: str) -> Any:
    try:
        return TypeAdapter(shape).validate_json(response.content, strict=True)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        got = response.text[:60].replace("\n", " ") or "an empty body"
        raise ForgeError(
            f"{what}: unexpected answer (HTTP {response.status_code}): expected {expected}; "
            f"{where}: {first['msg']} (got {got!r})"
        ) from None


def q(part: str | int) -> str:
    """One URL path segment: `/`, `?`, `#` and `%` in it cannot change the path."""
    return quote(str(part), safe="")


def repo_path(repo: str) -> str:
    owner, name = repo.split("/", 1)
    return f"/repos/{q(owner)}/{q(name)}"


class ForgeClient:
    def __init__(
        self,
        base_url: str,
        token: SecretStr,
        policy: RetryPolicy,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._policy = policy
        self._http = httpx.Client(
            base_url=f"{base_url.rstrip('/')}/api/v1",
            headers={
                "Authorization": f"token {token.get_secret_value()}",
                "Accept": "application/json",
            },
            timeout=timeout,
            transport=transport,
        )
        self._bot_login: str | None = None
        self._bot_lock = threading.Lock()
        self._failures_lock = threading.Lock()
        self.last_failure: ForgeFailure | None = None
        self.failures = 0  # calls that failed for good since start (retries not counted)

    def close(self) -> None:
        self._http.close()

    def _request(
        self, method: str, path: str, ok: tuple[int, ...], **kwargs: Any
    ) -> httpx.Response:
        what = f"forge {method} {path}"
        return self._recorded(
            lambda: _reject_bad_token(
                request_with_retry(
                    self._http, method, path, (*ok, *AUTH_STATUSES), self._policy, what,
                    ForgeError, **kwargs,
                ),
                ok,
                what,
            )
        )

    def _recorded(self, call: Callable[[], T]) -> T:
        """`call()`, remembering a failure for /healthz and the metrics before it is raised."""
        try:
            return call()
        except ForgeError as err:
            if not getattr(err, "recorded", False):  # nested calls count one failure once
                err.recorded = True  # type: ignore[attr-defined]
                with self._failures_lock:
                    self.failures += 1
                    self.last_failure = ForgeFailure(str(err), time.time())
            raise

    def whoami(self) -> str:
        """The token's user, asked now with one call (no retry): `cc-ci bridge --check`."""
        what = "forge GET /user"
        once = RetryPolicy(attempts=1)
        response = self._recorded(
            lambda: expect_status(
                _reject_bad_token(
                    retried(lambda: send_once(self._http, "GET", "/user"), once, what, ForgeError),
                    (200,),
                    what,
                ),
                (200,),
                what,
                ForgeError,
            )
        )
        return str(_parse(response, _User, what, "the token's user with a login").login)

    def _get(self, path: str, shape: Any, expected: str, **kwargs: Any) -> Any:
        return self._recorded(
            lambda: _parse(
                self._request("GET", path, ok=(200,), **kwargs), shape, f"forge GET {path}", expected
            )
        )

    def is_org_member(self, org: str, login: str) -> bool:
        # 204 member, 404 not a member (or `org` is a user, not an org). Gitea answers 303 (a
        # redirect to public_members) when our token's user cannot see private membership;
        # that is "not known to be a member", never a yes.
        response = self._request(
            "GET",
            f"/orgs/{q(org)}/members/{q(login)}",
            ok=(204, 404, 302, 303, 307),
            follow_redirects=False,
        )
        return response.status_code == 204

    def membership_visible(self, org: str, login: str) -> bool | None:
        """Can the bot (`login`) see private org membership? It can when it is a member itself:
        asked about itself, the forge answers 204. A redirect (302/303/307): it is not a member,
        so every private member would look like a non-member. None: `org` is no organisation (a
        user-owned repo: its owner and the allowlist trigger, membership is never asked)."""
        response = self._request(
            "GET", f"/orgs/{q(org)}/members/{q(login)}", ok=(204, 404, 302, 303, 307),
            follow_redirects=False,
        )
        return None if response.status_code == 404 else response.status_code == 204

    def repo_access(self, owner: str, repo: str) -> RepoAccess | None:
        """The repo as the bot sees it; None when the forge has none it can see (404)."""
        path = f"/repos/{q(owner)}/{q(repo)}"
        response = self._request("GET", path, ok=(200, 404))
        if response.status_code == 404:
            return None
        info = _parse(response, _RepoInfo, f"forge GET {path}", "a repository with full_name")
        perms = info.permissions or _Permissions()
        return RepoAccess(info.full_name, perms.push or perms.admin)

    def newest_pull_number(self, owner: str, repo: str) -> int | None:
        """The newest PR of the repo, open or closed; None when it has none yet."""
        path = f"/repos/{q(owner)}/{q(repo)}/pulls"
        pulls = self._get(path, list[_PullNumber], "a list of pull requests",
                          params={"state": "all", "page": 1, "limit": 1, "sort": "newest"})
        return pulls[0].number if pulls else None

    def pull_refs(self, owner: str, repo: str) -> set[str]:
        """The repo's `refs/pull/...` as the forge publishes them (404: none)."""
        path = f"/repos/{q(owner)}/{q(repo)}/git/refs/pull"
        response = self._request("GET", path, ok=(200, 404))
        if response.status_code == 404:
            return set()
        return {ref.ref for ref in _parse(response, list[_Ref], f"forge GET {path}", "a list of refs")}

    def get_pull(self, owner: str, repo: str, number: int) -> PullRequest | None:
        """The PR with this index, or None when the index is an issue (404)."""
        path = f"/repos/{q(owner)}/{q(repo)}/pulls/{number}"
        response = self._request("GET", path, ok=(200, 404))
        if response.status_code == 404:
            return None
        pull = _parse(
            response, _Pull, f"forge GET {path}", "a pull request with number, state and head.sha"
        )
        return PullRequest(pull.number, pull.state, bool(pull.merged), pull.head.sha, _fork_url(pull))

    def get_comment(self, owner: str, repo: str, comment_id: int) -> ForgeComment:
        path = f"/repos/{q(owner)}/{q(repo)}/issues/comments/{comment_id}"
        return _comment(self._get(path, _Comment, "a comment with id and updated_at"))

    def issue_comments(self, owner: str, repo: str, number: int) -> list[ForgeComment]:
        """Every comment of one issue or PR (Gitea returns them all, without pages)."""
        path = f"/repos/{q(owner)}/{q(repo)}/issues/{number}/comments"
        return [_comment(c) for c in self._get(path, list[_Comment], "a list of comments")]

    def bot_login(self) -> str:
        """The login of the account whose token this is (asked once)."""
        with self._bot_lock:
            if self._bot_login is None:
                self._bot_login = self._get("/user", _User, "the token's user with a login").login
            return self._bot_login

    def pushes(self, owner: str, repo: str, number: int) -> list[Push] | None:
        """The head moves the forge recorded on a PR's timeline (`pull_push` events), oldest
        first; None when this forge has no timeline API (404: Gitea before 1.15)."""
        path = f"/repos/{q(owner)}/{q(repo)}/issues/{number}/timeline"
        what = f"forge GET {path}"
        found: list[Push] = []
        page = 1
        while True:
            response = self._request(
                "GET", path, ok=(200, 404), params={"page": page, "limit": TIMELINE_PAGE}
            )
            if response.status_code == 404:
                return None
            items = _parse(response, list[_TimelineItem], what, "a list of timeline events")
            if not items:
                # Only an empty page ends the list: a forge may cap pages below our `limit`,
                # and stopping at a short page would miss the newest pushes.
                return sorted(found, key=lambda push: push.at)
            found.extend(_push(item, what) for item in items if item.type == "pull_push")
            page += 1

    def post_comment(
        self, owner: str, repo: str, number: int, body: str, marker: str
    ) -> tuple[int, bool]:
        """Create a comment once, whatever happens: `body` carries `marker`, and before each
        try the bot's comments on the PR are searched for it. A POST that failed or whose
        answer was lost may have created the comment; a bridge killed after a POST but before
        storing its id starts again here too. Returns (comment id, whether this call made it)."""
        assert marker in body
        path = f"/repos/{q(owner)}/{q(repo)}/issues/{number}/comments"
        what = f"forge POST {path}"

        def create() -> tuple[int, bool]:
            made = self.find_bot_comment(owner, repo, number, marker)
            if made is not None:
                return made, False
            response = send_once(self._http, "POST", path, json={"body": body})
            expect_status(_reject_bad_token(response, (201,), what), (201,), what, ForgeError)
            return _parse(response, _Created, what, "the created comment with its id").id, True

        return self._recorded(lambda: retried(create, self._policy, what, ForgeError))

    def find_bot_comment(self, owner: str, repo: str, number: int, marker: str) -> int | None:
        bot = self.bot_login().lower()
        for comment in self.issue_comments(owner, repo, number):
            if comment.author.lower() == bot and marker in comment.body:
                return comment.id
        return None

    def edit_comment(self, owner: str, repo: str, comment_id: int, body: str) -> None:
        # Gitea answers 200 with the comment; some versions 204.
        self._request(
            "PATCH",
            f"/repos/{q(owner)}/{q(repo)}/issues/comments/{comment_id}",
            ok=(200, 204),
            json={"body": body},
        )

    def set_status(
        self,
        owner: str,
        repo: str,
        sha: str,
        state: str,
        target_url: str,
        description: str,
        context: str,
    ) -> None:
        assert state in COMMIT_STATES, state
        self._request(
            "POST",
            f"/repos/{q(owner)}/{q(repo)}/statuses/{q(sha)}",
            ok=(200, 201),
            json={
                "state": state,
                "target_url": target_url,
                "description": description[:140],
                "context": context,
            },
        )

    def comments_since(self, repo: str, since: str, page_size: int = 50) -> list[PolledComment]:
        """All comments on issues and PRs of `repo` updated at or after `since` (RFC 3339)."""
        path = f"{repo_path(repo)}/issues/comments"
        found: list[PolledComment] = []
        page = 1
        while True:
            items = self._get(
                path,
                list[_Comment],
                "a list of comments",
                params={"since": since, "page": page, "limit": page_size},
            )
            if not items:
                # Only an empty page ends the list: a forge may cap pages below our `limit`
                # (Gitea's MAX_RESPONSE_ITEMS), and stopping at a short page would drop comments.
                return [comment for comment in found if comment.event.number > 0]
            found.extend(_polled_comment(repo, item) for item in items)
            page += 1


def _reject_bad_token(response: httpx.Response, ok: tuple[int, ...], what: str) -> httpx.Response:
    if response.status_code in AUTH_STATUSES and response.status_code not in ok:
        raise ForgeAuthError(
            f"{what}: the forge rejected the bridge's token (HTTP {response.status_code}): "
            "check forge.token (a valid token of the bot account, with the scopes in docs/bridge.md)"
        )
    return response


def _comment(item: _Comment) -> ForgeComment:
    return ForgeComment(
        id=item.id,
        author=item.user.login if item.user else "",
        body=item.body or "",
        updated_at=item.updated_at or item.created_at,
    )


def _push(item: _TimelineItem, what: str) -> Push:
    try:
        at = forge_time(item.created_at)
        content = _PushContent.model_validate_json(item.body or "{}", strict=True)
    except (ValueError, ValidationError):
        raise ForgeError(
            f"{what}: unexpected answer: expected a pull_push event with created_at and a JSON "
            f"body with commit_ids (got created_at {item.created_at!r}, body {str(item.body)[:60]!r})"
        ) from None
    return Push(at=at, commit_ids=tuple(sha.lower() for sha in content.commit_ids or ()))


def _polled_comment(repo: str, item: _Comment) -> PolledComment:
    pull_url = item.pull_request_url or ""
    issue_url = item.issue_url or ""
    tail = (pull_url or issue_url).rstrip("/").rsplit("/", 1)[-1]
    comment = _comment(item)
    event = CommentEvent(
        repo=repo,
        number=int(tail) if tail.isdigit() else 0,
        comment_id=comment.id,
        body=comment.body,
        author=comment.author,
        is_pull=bool(pull_url),
        source="poll",
        commented_at=comment.updated_at,
    )
    return PolledComment(event=event, updated_at=comment.updated_at)


def _fork_url(pull: _Pull) -> str | None:
    """The head repository's clone URL when the PR comes from another repository (a fork); the
    run looks for the head there when the base's `refs/pull/<n>/head` has not caught up yet."""
    head = pull.head.repo
    base = pull.base.repo if pull.base else None
    if head is None or not head.clone_url or base is None or not head.full_name:
        return None
    return head.clone_url if head.full_name.lower() != (base.full_name or "").lower() else None
