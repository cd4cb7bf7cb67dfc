"""Stand-in Gitea/Forgejo and Drone servers for the bridge's tests and benchmark.

Real HTTP servers (Starlette on uvicorn, 127.0.0.1, random port, in a thread) implementing the
endpoints the bridge uses with the shapes and status codes of the Gitea API v1 and Drone API
docs. Every request is recorded in `calls`, so a test can assert what the bridge did.

The forge models a PR's timeline as Gitea does: every move of the head is a `pull_push` event
(`body` is JSON `{"is_force_push": …, "commit_ids": [oldest … newest]}`; a force push records
`[old head, new head]`), and opening the PR records its first push. `delay` makes every answer
come that many seconds after the request was handled (so a comment exists on the forge before
the bridge learns its id), and `answer_next` replaces answers with anything (no id, HTML, …).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorization: str


class ServerThread:
    """Serve an ASGI app on 127.0.0.1:<random port> from a background thread."""

    def __init__(self, app: Starlette) -> None:
        # IPPROTO_TCP so that asyncio sets TCP_NODELAY on accepted connections (no 40 ms stalls).
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        )
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def start(self) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "stand-in server did not start"
            time.sleep(0.005)
        return self

    def stop(self, wait: bool = True) -> None:
        """Stop serving; `wait=False` (a fixture's teardown, nobody asks it anything more) leaves
        uvicorn's shutdown (a 0.1 s tick, then a 0.1 s grace, per test) to finish on its own: it
        closes the socket it was handed itself."""
        self._server.should_exit = True
        if wait:
            self._thread.join(timeout=10)
            self._sock.close()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def stamp(moment: datetime) -> str:
    """A forge timestamp (one-second resolution, like Gitea's)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def seconds_ago(seconds: float) -> str:
    return stamp(datetime.now(UTC) - timedelta(seconds=seconds))


class _Recorder:
    def __init__(self, token: str, scheme: str) -> None:
        self.token = token
        self.scheme = scheme
        self.calls: list[Call] = []
        self.lock = threading.Lock()
        # (method, path prefix) -> [remaining failures, status]: fault injection for retry tests
        self.faults: dict[tuple[str, str], list[int]] = {}
        # (method, path prefix) -> [remaining, status, body, content type, handle first]
        self.answers: dict[tuple[str, str], list[Any]] = {}
        self.delay = 0.0  # seconds between handling a request and answering it

    def fail_next(self, method: str, path_prefix: str, times: int, status: int = 503) -> None:
        with self.lock:
            self.faults[(method, path_prefix)] = [times, status]

    def answer_next(
        self,
        method: str,
        path_prefix: str,
        times: int,
        status: int,
        body: bytes | str,
        content_type: str = "application/json",
        handle_first: bool = False,
    ) -> None:
        """The next `times` matching requests get this answer instead of the real one. With
        `handle_first` the request is handled (a comment is created) and only its answer replaced."""
        with self.lock:
            self.answers[(method, path_prefix)] = [times, status, body, content_type, handle_first]

    def _answer_for(self, request: Request) -> list[Any] | None:
        with self.lock:
            for (method, prefix), answer in self.answers.items():
                if (
                    method == request.method
                    and request.url.path.startswith(prefix)
                    and answer[0] > 0
                ):
                    answer[0] -= 1
                    return answer
        return None

    def middleware(self) -> Callable[[ASGIApp], ASGIApp]:
        recorder = self

        class Answering:
            def __init__(self, app: Any) -> None:
                self.app = app

            async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
                if scope["type"] != "http":
                    await self.app(scope, receive, send)
                    return
                answer = recorder._answer_for(Request(scope))
                if answer is not None and not answer[4]:
                    await self._replace(answer, send)
                    return
                # Handle the request now, hold its answer `delay` seconds, then send it (or the
                # replacement): the forge acted before the bridge hears about it.
                messages: list[Any] = []

                async def keep(message: Any) -> None:
                    messages.append(message)

                await self.app(scope, receive, keep)
                if recorder.delay:
                    await asyncio.sleep(recorder.delay)
                if answer is not None:
                    await self._replace(answer, send)
                    return
                for message in messages:
                    await send(message)

            async def _replace(self, answer: list[Any], send: Any) -> None:
                if recorder.delay:
                    await asyncio.sleep(recorder.delay)
                body = answer[2].encode() if isinstance(answer[2], str) else answer[2]
                await Response(body, status_code=answer[1], media_type=answer[3])(
                    {"type": "http"}, _nothing, send
                )

        return Answering

    async def record(self, request: Request) -> tuple[Call, Response | None]:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        call = Call(
            request.method,
            request.url.path,
            dict(request.query_params),
            body,
            request.headers.get("authorization", ""),
        )
        with self.lock:
            self.calls.append(call)
            for (method, prefix), fault in self.faults.items():
                if (
                    method == request.method
                    and request.url.path.startswith(prefix)
                    and fault[0] > 0
                ):
                    fault[0] -= 1
                    return call, JSONResponse({"message": "injected failure"}, status_code=fault[1])
        if call.authorization != f"{self.scheme} {self.token}":
            return call, JSONResponse({"message": "unauthorized"}, status_code=401)
        return call, None

    def calls_to(self, method: str, path_part: str = "") -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method and path_part in c.path]


async def _nothing() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


BOT = "cc-ci-bot"


class StandinForge(_Recorder):
    """The Gitea API v1 endpoints the bridge uses."""

    def __init__(self, token: str = "forge-test-token") -> None:
        super().__init__(token, "token")
        self.org_members: dict[str, set[str]] = {}
        self.pulls: dict[tuple[str, int], dict[str, Any]] = {}
        self.comments: dict[int, dict[str, Any]] = {}
        self.statuses: list[dict[str, Any]] = []
        # (repo, index) -> timeline events (pull_push only: the one type the bridge reads)
        self.timelines: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.timeline_api = True  # False: an older Gitea, /timeline is 404
        self.max_page = 50  # Gitea's MAX_RESPONSE_ITEMS: `limit` is capped to it
        # False: our token's user is not in the org, so Gitea redirects (303) to public_members.
        # True: the bot is a member of every org (asked about itself: 204), as docs/bridge.md asks.
        self.membership_visible = True
        # What `GET /repos/{owner}/{repo}` and `--check` see: every repo exists, the bot may
        # write to it and it publishes refs/pull/<n>/head for its PRs, unless listed here.
        self.missing_repos: set[str] = set()
        self.read_only_repos: set[str] = set()
        self.unpublished_pull_refs: set[str] = set()
        self.user_owners: set[str] = set()  # owners that are users, not orgs (/orgs/... is 404)
        self._ids = iter(range(1000, 10**9))
        self.app = Starlette(
            routes=[
                Route("/api/v1/user", self._user, methods=["GET"]),
                Route("/api/v1/orgs/{org}/members/{username}", self._member, methods=["GET"]),
                Route(
                    "/api/v1/repos/{owner}/{repo}/pulls/{index:int}", self._pull, methods=["GET"]
                ),
                Route("/api/v1/repos/{owner}/{repo}", self._repo, methods=["GET"]),
                Route("/api/v1/repos/{owner}/{repo}/pulls", self._list_pulls, methods=["GET"]),
                Route("/api/v1/repos/{owner}/{repo}/git/refs/{ref:path}", self._refs, methods=["GET"]),
                Route(
                    "/api/v1/repos/{owner}/{repo}/issues/comments",
                    self._list_comments,
                    methods=["GET"],
                ),
                Route(
                    "/api/v1/repos/{owner}/{repo}/issues/comments/{id:int}",
                    self._edit_comment,
                    methods=["PATCH"],
                ),
                Route(
                    "/api/v1/repos/{owner}/{repo}/issues/comments/{id:int}",
                    self._get_comment,
                    methods=["GET"],
                ),
                Route(
                    "/api/v1/repos/{owner}/{repo}/issues/{index:int}/comments",
                    self._create_comment,
                    methods=["POST"],
                ),
                Route(
                    "/api/v1/repos/{owner}/{repo}/issues/{index:int}/comments",
                    self._issue_comments,
                    methods=["GET"],
                ),
                Route(
                    "/api/v1/repos/{owner}/{repo}/issues/{index:int}/timeline",
                    self._timeline,
                    methods=["GET"],
                ),
                Route(
                    "/api/v1/repos/{owner}/{repo}/statuses/{sha}",
                    self._create_status,
                    methods=["POST"],
                ),
            ]
        )
        self.app.add_middleware(self.middleware())
        self.server = ServerThread(self.app)
        self.url = self.server.url

    # test setup

    def _repo_json(self, full_name: str) -> dict[str, Any]:
        return {"full_name": full_name, "clone_url": f"{self.url}/{full_name}.git"}

    def add_member(self, org: str, login: str) -> None:
        self.org_members.setdefault(org.lower(), set()).add(login.lower())

    def add_pull(
        self,
        repo: str,
        number: int,
        sha: str,
        state: str = "open",
        merged: bool = False,
        opened_at: str | None = None,
        fork: str | None = None,
    ) -> None:
        """A PR opened (by default an hour ago) with head `sha`: its first push is recorded then.
        `fork` (`owner/name`): the head lives in that repository, as Gitea answers for a fork's PR."""
        self.timelines[(repo.lower(), number)] = [
            self._push_event("0" * 40, [sha], False, opened_at or seconds_ago(3600))
        ]
        self.pulls[(repo.lower(), number)] = {
            "id": number,
            "number": number,
            "state": state,
            "merged": merged,
            "title": f"PR {number}",
            "html_url": f"{self.url}/{repo}/pulls/{number}",
            "head": {"label": f"branch-{number}", "ref": f"branch-{number}", "sha": sha,
                     "repo": self._repo_json(fork or repo)},
            "base": {"label": "main", "ref": "main", "sha": "0" * 40, "repo": self._repo_json(repo)},
        }

    def push(
        self,
        repo: str,
        number: int,
        sha: str,
        force: bool = False,
        at: str | None = None,
        record: bool = True,
    ) -> None:
        """The PR's author pushes `sha` (now, or `at`). `record=False`: the head has moved but
        the forge has not written its timeline event yet (Gitea does that asynchronously)."""
        pull = self.pulls[(repo.lower(), number)]
        old = pull["head"]["sha"]
        pull["head"]["sha"] = sha
        if record:
            commits = [old, sha] if force else [sha]
            self.timelines[(repo.lower(), number)].append(
                self._push_event(old, commits, force, at or _now())
            )

    def _push_event(self, old: str, commits: list[str], force: bool, at: str) -> dict[str, Any]:
        return {
            "id": next(self._ids),
            "type": "pull_push",
            "body": json.dumps({"is_force_push": force, "commit_ids": commits}),
            "user": {"id": 4, "login": "author"},
            "created_at": at,
            "updated_at": at,
        }

    def user_comment(
        self, repo: str, number: int, login: str, body: str, at: str | None = None
    ) -> dict[str, Any]:
        """A comment a human made on the forge (visible to polling), at `at` or now; returns it."""
        is_pull = (repo.lower(), number) in self.pulls
        comment = self._store_comment(repo, number, login, body, is_pull)
        if at is not None:
            comment["created_at"] = comment["updated_at"] = at
        return comment

    def webhook_payload(self, comment: dict[str, Any], action: str = "created") -> dict[str, Any]:
        """The issue_comment webhook payload Gitea sends for `comment` (trimmed to real fields)."""
        repo = comment["_repo"]
        owner, name = repo.split("/")
        number = comment["_number"]
        is_pull = (repo.lower(), number) in self.pulls
        pull = self.pulls.get((repo.lower(), number))
        return {
            "action": action,
            "issue": {
                "id": number,
                "number": number,
                "title": f"#{number}",
                "state": (pull or {}).get("state", "open"),
                "user": {"id": 1, "login": comment["user"]["login"]},
                "pull_request": {"merged": False, "merged_at": None} if is_pull else None,
                "html_url": f"{self.url}/{repo}/{'pulls' if is_pull else 'issues'}/{number}",
            },
            "comment": {k: v for k, v in comment.items() if not k.startswith("_")},
            "repository": {
                "id": 1,
                "name": name,
                "full_name": repo,
                "owner": {"id": 2, "login": owner},
                "html_url": f"{self.url}/{repo}",
            },
            "sender": {"id": 1, "login": comment["user"]["login"]},
            "is_pull": is_pull,
        }

    def bot_comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        return [
            c
            for c in self.comments.values()
            if c["_repo"] == repo and c["_number"] == number and c["_bot"]
        ]

    def statuses_for(self, sha: str) -> list[dict[str, Any]]:
        return [s for s in self.statuses if s["sha"] == sha]

    def _store_comment(
        self, repo: str, number: int, login: str, body: str, is_pull: bool, bot: bool = False
    ) -> dict[str, Any]:
        comment_id = next(self._ids)
        now = _now()
        kind = "pulls" if is_pull else "issues"
        comment = {
            "id": comment_id,
            "body": body,
            "user": {"id": 3, "login": login},
            "html_url": f"{self.url}/{repo}/{kind}/{number}#issuecomment-{comment_id}",
            "pull_request_url": f"{self.url}/{repo}/pulls/{number}" if is_pull else "",
            "issue_url": "" if is_pull else f"{self.url}/{repo}/issues/{number}",
            "created_at": now,
            "updated_at": now,
            "_repo": repo,
            "_number": number,
            "_bot": bot,
        }
        with self.lock:
            self.comments[comment_id] = comment
        return comment

    # endpoints

    async def _user(self, request: Request) -> Response:
        _, denied = await self.record(request)
        return denied or JSONResponse({"id": 9, "login": BOT, "full_name": "cc-ci"})

    async def _get_comment(self, request: Request) -> Response:
        _, denied = await self.record(request)
        if denied:
            return denied
        comment = self.comments.get(request.path_params["id"])
        if comment is None:
            return JSONResponse({"message": "comment does not exist"}, status_code=404)
        return JSONResponse({k: v for k, v in comment.items() if not k.startswith("_")})

    async def _issue_comments(self, request: Request) -> Response:
        _, denied = await self.record(request)
        if denied:
            return denied
        repo = f"{request.path_params['owner']}/{request.path_params['repo']}".lower()
        number = request.path_params["index"]
        with self.lock:
            found = [
                {k: v for k, v in c.items() if not k.startswith("_")}
                for c in self.comments.values()
                if c["_repo"].lower() == repo and c["_number"] == number
            ]
        return JSONResponse(found)

    async def _timeline(self, request: Request) -> Response:
        _, denied = await self.record(request)
        if denied:
            return denied
        if not self.timeline_api:
            return Response("404 page not found", status_code=404, media_type="text/plain")
        key = (
            f"{request.path_params['owner']}/{request.path_params['repo']}".lower(),
            request.path_params["index"],
        )
        page = int(request.query_params.get("page", "1"))
        limit = min(int(request.query_params.get("limit", "30")), self.max_page)
        events = self.timelines.get(key, [])
        return JSONResponse(events[(page - 1) * limit : page * limit])

    async def _member(self, request: Request) -> Response:
        _, denied = await self.record(request)
        if denied:
            return denied
        org, user = request.path_params["org"].lower(), request.path_params["username"].lower()
        if org in self.user_owners:  # no such organisation
            return JSONResponse({"message": "GetOrgByName"}, status_code=404)
        if not self.membership_visible:
            location = f"/api/v1/orgs/{org}/public_members/{user}"
            return Response(status_code=303, headers={"Location": location})
        member = user == BOT.lower() or user in self.org_members.get(org, set())
        return Response(status_code=204 if member else 404)

    def _repo_key(self, request: Request) -> str:
        return f"{request.path_params['owner']}/{request.path_params['repo']}".lower()

    async def _repo(self, request: Request) -> Response:
        _, denied = await self.record(request)
        if denied:
            return denied
        repo = self._repo_key(request)
        if repo in self.missing_repos:
            return JSONResponse({"message": "The target couldn't be found."}, status_code=404)
        push = repo not in self.read_only_repos
        return JSONResponse({
            "id": 1, "full_name": f"{request.path_params['owner']}/{request.path_params['repo']}",
            "private": False, "clone_url": f"{self.url}/{repo}.git",
            "permissions": {"admin": False, "push": push, "pull": True},
        })

    async def _list_pulls(self, request: Request) -> Response:
        _, denied = await self.record(request)
        if denied:
            return denied
        repo = self._repo_key(request)
        state = request.query_params.get("state", "open")
        limit = min(int(request.query_params.get("limit", "30")), self.max_page)
        page = int(request.query_params.get("page", "1"))
        found = sorted((p for (r, _), p in self.pulls.items()
                        if r == repo and state in ("all", p["state"])),
                       key=lambda p: -p["number"])  # newest first
        return JSONResponse(found[(page - 1) * limit : page * limit])

    async def _refs(self, request: Request) -> Response:
        """Gitea's `git/refs/{ref}`: every ref under `refs/<ref>`, or 404 when there is none."""
        _, denied = await self.record(request)
        if denied:
            return denied
        repo = self._repo_key(request)
        prefix = f"refs/{request.path_params['ref']}"
        refs: list[dict[str, Any]] = [] if repo in self.unpublished_pull_refs else [
            {"ref": f"refs/pull/{n}/head", "url": "", "object": {"type": "commit", "sha": p["head"]["sha"]}}
            for (r, n), p in self.pulls.items() if r == repo]
        found = [ref for ref in refs if ref["ref"].startswith(prefix)]
        if not found:
            return JSONResponse({"message": "The target couldn't be found."}, status_code=404)
        return JSONResponse(found)

    async def _pull(self, request: Request) -> Response:
        _, denied = await self.record(request)
        if denied:
            return denied
        key = (
            f"{request.path_params['owner']}/{request.path_params['repo']}".lower(),
            request.path_params["index"],
        )
        pull = self.pulls.get(key)
        return (
            JSONResponse(pull)
            if pull
            else JSONResponse({"message": "pull request does not exist"}, status_code=404)
        )

    async def _create_comment(self, request: Request) -> Response:
        call, denied = await self.record(request)
        if denied:
            return denied
        if not isinstance(call.body, dict) or not isinstance(call.body.get("body"), str):
            return JSONResponse({"message": "body required"}, status_code=422)
        repo = f"{request.path_params['owner']}/{request.path_params['repo']}"
        number = request.path_params["index"]
        comment = self._store_comment(
            repo,
            number,
            BOT,
            call.body["body"],
            (repo.lower(), number) in self.pulls,
            bot=True,
        )
        return JSONResponse(
            {k: v for k, v in comment.items() if not k.startswith("_")}, status_code=201
        )

    async def _edit_comment(self, request: Request) -> Response:
        call, denied = await self.record(request)
        if denied:
            return denied
        comment = self.comments.get(request.path_params["id"])
        if comment is None:
            return JSONResponse({"message": "comment does not exist"}, status_code=404)
        comment["body"] = call.body["body"]
        comment["updated_at"] = _now()
        return JSONResponse(
            {k: v for k, v in comment.items() if not k.startswith("_")}, status_code=200
        )

    async def _create_status(self, request: Request) -> Response:
        call, denied = await self.record(request)
        if denied:
            return denied
        body = call.body if isinstance(call.body, dict) else {}
        if body.get("state") not in {"pending", "success", "error", "failure", "warning"}:
            return JSONResponse({"message": "invalid state"}, status_code=422)
        status = {
            "sha": request.path_params["sha"],
            "repo": f"{request.path_params['owner']}/{request.path_params['repo']}",
            "state": body["state"],
            "target_url": body.get("target_url", ""),
            "description": body.get("description", ""),
            "context": body.get("context", ""),
        }
        with self.lock:
            self.statuses.append(status)
            status_id = len(self.statuses)
        return JSONResponse(
            {
                "id": status_id,
                "status": status["state"],
                **{k: status[k] for k in ("target_url", "description", "context")},
            },
            status_code=201,
        )

    async def _list_comments(self, request: Request) -> Response:
        _, denied = await self.record(request)
        if denied:
            return denied
        repo = f"{request.path_params['owner']}/{request.path_params['repo']}".lower()
        since = request.query_params.get("since")
        page = int(request.query_params.get("page", "1"))
        limit = min(int(request.query_params.get("limit", "30")), self.max_page)
        with self.lock:
            found = [
                c
                for c in self.comments.values()
                if c["_repo"].lower() == repo and (since is None or c["updated_at"] >= since)
            ]
        found.sort(key=lambda c: c["id"])
        chunk = found[(page - 1) * limit : page * limit]
        return JSONResponse([{k: v for k, v in c.items() if not k.startswith("_")} for c in chunk])


class StandinDrone(_Recorder):
    """The Drone API endpoints the drone executor uses."""

    def __init__(self, token: str = "drone-test-token") -> None:
        super().__init__(token, "Bearer")
        self.login = "cc-ci-drone"  # the token's user
        self.admin = False
        # Repos the token's user can see (`GET /api/repos/{owner}/{name}`), slug -> Drone's answer.
        self.repos: dict[str, dict[str, Any]] = {}
        self.builds: dict[tuple[str, int], dict[str, Any]] = {}
        self.logs: dict[tuple[str, int], str] = {}
        # Statuses to answer the next create calls with *after* making the build (a lost response).
        self.create_then_fail: list[int] = []
        self.app = Starlette(
            routes=[
                Route("/api/user", self._user, methods=["GET"]),
                Route("/api/repos/{owner}/{name}", self._repo, methods=["GET"]),
                Route("/api/repos/{owner}/{name}/builds", self._create, methods=["POST"]),
                Route("/api/repos/{owner}/{name}/builds", self._list, methods=["GET"]),
                Route("/api/repos/{owner}/{name}/builds/{number:int}", self._get, methods=["GET"]),
                Route(
                    "/api/repos/{owner}/{name}/builds/{number:int}/logs/{stage:int}/{step:int}",
                    self._logs,
                    methods=["GET"],
                ),
            ]
        )
        self.server = ServerThread(self.app)
        self.url = self.server.url

    def add_repo(self, slug: str, active: bool = True, write: bool = True) -> None:
        owner, name = slug.split("/", 1)
        self.repos[slug] = {
            "id": 42,
            "namespace": owner,
            "name": name,
            "slug": slug,
            "active": active,
            "default_branch": "main",
            "permissions": {"read": True, "write": write, "admin": False},
        }

    async def _user(self, request: Request) -> Response:
        _, denied = await self.record(request)
        if denied:
            return denied
        return JSONResponse({"id": 1, "login": self.login, "admin": self.admin, "active": True})

    async def _repo(self, request: Request) -> Response:
        # Drone answers 404, not 403, for a repo it does not have or its user may not read.
        _, denied = await self.record(request)
        if denied:
            return denied
        repo = self.repos.get(f"{request.path_params['owner']}/{request.path_params['name']}")
        return JSONResponse(repo) if repo else JSONResponse({"message": "Not Found"}, 404)

    def finish(self, repo: str, number: int, status: str, summary_log: str | None = None) -> None:
        build = self.builds[(repo, number)]
        build["status"] = status
        build["stages"][0]["status"] = status
        if summary_log is not None:
            self.logs[(repo, number)] = summary_log

    async def _create(self, request: Request) -> Response:
        call, denied = await self.record(request)
        if denied:
            return denied
        repo = f"{request.path_params['owner']}/{request.path_params['name']}"
        number = 1 + sum(1 for key in self.builds if key[0] == repo)
        params = dict(call.query)
        build = {
            "id": 100 + number,
            "number": number,
            "status": "pending",
            "event": "custom",
            "action": "",
            "source": params.get("branch", "main"),
            "target": params.get("branch", "main"),
            "params": params,
            "stages": [
                {
                    "number": 1,
                    "name": "testme",
                    "status": "pending",
                    "steps": [
                        {"number": 1, "name": "clone"},
                        {"number": 2, "name": "run"},
                        {"number": 3, "name": "summary"},
                    ],
                }
            ],
        }
        self.builds[(repo, number)] = build
        if self.create_then_fail:
            return JSONResponse(
                {"message": "gateway timeout"}, status_code=self.create_then_fail.pop(0)
            )
        return JSONResponse(build, status_code=200)

    async def _list(self, request: Request) -> Response:
        # Drone lists a repo's builds newest first, without their stages.
        _, denied = await self.record(request)
        if denied:
            return denied
        repo = f"{request.path_params['owner']}/{request.path_params['name']}"
        found = sorted(
            (b for (r, _), b in self.builds.items() if r == repo), key=lambda b: -b["number"]
        )
        return JSONResponse([{k: v for k, v in b.items() if k != "stages"} for b in found])

    async def _get(self, request: Request) -> Response:
        _, denied = await self.record(request)
        if denied:
            return denied
        build = self.builds.get(
            (
                f"{request.path_params['owner']}/{request.path_params['name']}",
                request.path_params["number"],
            )
        )
        return (
            JSONResponse(build)
            if build
            else JSONResponse({"message": "Not Found"}, status_code=404)
        )

    async def _logs(self, request: Request) -> Response:
        _, denied = await self.record(request)
        if denied:
            return denied
        key = (
            f"{request.path_params['owner']}/{request.path_params['name']}",
            request.path_params["number"],
        )
        if request.path_params["step"] != 3 or key not in self.logs:
            return JSONResponse([])
        lines = self.logs[key].splitlines(keepends=True)
        return JSONResponse([{"pos": i, "out": line, "time": i} for i, line in enumerate(lines)])


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
