"""Client for the Gitea/Forgejo API (v1): the few endpoints the bridge uses.

Auth is `Authorization: token <token>`. Every call is retried with backoff on network errors,
5xx and 429; what still fails raises ForgeError, which callers catch and log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from runner.bridge.events import CommentEvent
from runner.bridge.retry import RetryPolicy, request_with_retry
from runner.errors import InfraError

log = logging.getLogger("cc-ci.bridge")

COMMIT_STATES = frozenset({"pending", "success", "error", "failure", "warning"})


class ForgeError(InfraError):
    """A forge API call failed for good (after retries, or a non-retryable status)."""


@dataclass(frozen=True)
class PullRequest:
    number: int
    state: str  # "open" | "closed"
    merged: bool
    head_sha: str

    @property
    def is_open(self) -> bool:
        return self.state == "open" and not self.merged


@dataclass(frozen=True)
class PolledComment:
    event: CommentEvent
    updated_at: str


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

    def close(self) -> None:
        self._http.close()

    def _request(
        self, method: str, path: str, ok: tuple[int, ...], **kwargs: Any
    ) -> httpx.Response:
        return request_with_retry(self._http, method, path, ok, self._policy,
                                  f"forge {method} {path}", ForgeError, **kwargs)

    def is_org_member(self, org: str, login: str) -> bool:
        # 204 member, 404 not a member (or `org` is a user, not an org). Gitea answers 303 (a
        # redirect to public_members) when our token's user cannot see private membership;
        # that is "not known to be a member", never a yes.
        response = self._request(
            "GET",
            f"/orgs/{org}/members/{login}",
            ok=(204, 404, 302, 303, 307),
            follow_redirects=False,
        )
        return response.status_code == 204

    def get_pull(self, owner: str, repo: str, number: int) -> PullRequest | None:
        """The PR with this index, or None when the index is an issue (404)."""
        response = self._request("GET", f"/repos/{owner}/{repo}/pulls/{number}", ok=(200, 404))
        if response.status_code == 404:
            return None
        data = response.json()
        return PullRequest(
            number=int(data["number"]),
            state=str(data.get("state", "")),
            merged=bool(data.get("merged")),
            head_sha=str(data["head"]["sha"]),
        )

    def create_comment(self, owner: str, repo: str, number: int, body: str) -> int:
        response = self._request(
            "POST",
            f"/repos/{owner}/{repo}/issues/{number}/comments",
            ok=(201,),
            json={"body": body},
        )
        return int(response.json()["id"])

    def edit_comment(self, owner: str, repo: str, comment_id: int, body: str) -> None:
        # Gitea answers 200 with the comment; some versions 204.
        self._request(
            "PATCH",
            f"/repos/{owner}/{repo}/issues/comments/{comment_id}",
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
            f"/repos/{owner}/{repo}/statuses/{sha}",
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
        found: list[PolledComment] = []
        page = 1
        while True:
            response = self._request(
                "GET",
                f"/repos/{repo}/issues/comments",
                ok=(200,),
                params={"since": since, "page": page, "limit": page_size},
            )
            items = response.json()
            found.extend(_polled_comment(repo, item) for item in items)
            if len(items) < page_size:
                return [comment for comment in found if comment.event.number > 0]
            page += 1


def _polled_comment(repo: str, item: dict[str, Any]) -> PolledComment:
    pull_url = item.get("pull_request_url") or ""
    issue_url = item.get("issue_url") or ""
    tail = (pull_url or issue_url).rstrip("/").rsplit("/", 1)[-1]
    event = CommentEvent(
        repo=repo,
        number=int(tail) if tail.isdigit() else 0,
        comment_id=int(item["id"]),
        body=str(item.get("body") or ""),
        author=str((item.get("user") or {}).get("login", "")),
        is_pull=bool(pull_url),
        source="poll",
    )
    return PolledComment(
        event=event, updated_at=str(item.get("updated_at") or item.get("created_at") or "")
    )
