"""`drone` executor: one parameterised Drone build per job (deploy/drone/cc-ci.drone.yml).

The build is created with `POST /api/repos/{owner}/{name}/builds?branch=…&RECIPE=…&REF=…&PR=…
&STAGES=…&CCCI_RUN_ID=…`; Drone hands the parameters to the pipeline's steps as env vars. The
bridge polls `GET …/builds/{number}` until the build ends, then reads the pipeline's `summary`
step log for the verdict line and summary.md. `cc-ci bridge --check` asks `GET /api/user` and
`GET /api/repos/{owner}/{name}` once each: the token's user, and that it can build the repo.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from runner.bridge.config import DroneExecutorConfig
from runner.bridge.executors.base import VERDICTS, Outcome, Started
from runner.bridge.retry import RetryPolicy, expect_status, request_with_retry, retried, send_once
from runner.bridge.store import Job
from runner.errors import InfraError

log = logging.getLogger("cc-ci.bridge")

RUNNING_STATES = frozenset({"pending", "running", "blocked", "waiting_on_dependencies"})
VERDICT_MARKER = "CCCI-VERDICT:"
RESULT_MARKER = "CCCI-RESULT:"  # results.json's level, verdict, commit, error and run dir, as JSON


class DroneError(InfraError):
    """A Drone API call failed for good."""


class DroneAuthError(DroneError):
    """Drone rejected the token (401/403): retrying cannot help, the operator must give another."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class DroneRepoNotFound(DroneError):
    """Drone answered 404 for the repo: it is not activated there, or the token's user cannot see
    it (Drone answers a repo its user may not read with 404 too, not 403)."""


@dataclass(frozen=True)
class DroneUser:
    login: str
    admin: bool


@dataclass(frozen=True)
class DroneRepo:
    slug: str
    active: bool
    # None when Drone sent no permissions (it sends them only when it has the user's synced ones).
    can_write: bool | None


class _User(BaseModel):
    login: str
    admin: bool = False


class _Perms(BaseModel):
    write: bool = False


class _Repo(BaseModel):
    slug: str
    active: bool
    permissions: _Perms | None = None


def _parse(response: httpx.Response, shape: type[BaseModel], what: str) -> Any:
    try:
        return shape.model_validate_json(response.content)
    except ValidationError:
        got = response.text[:60].replace("\n", " ") or "an empty body"
        raise DroneError(
            f"{what}: HTTP {response.status_code} with an answer that is not Drone's ({got!r})"
        ) from None


def verdict_for_build_status(status: str) -> str:
    return {"success": "pass", "failure": "fail"}.get(status, "error")


def parse_summary_log(text: str) -> tuple[str | None, str]:
    """Split the summary step's log into (verdict from the marker line, the rest as summary)."""
    verdict: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith(VERDICT_MARKER):
            candidate = line.removeprefix(VERDICT_MARKER).strip()
            verdict = candidate if candidate in VERDICTS else verdict
        elif line.startswith(RESULT_MARKER):
            continue  # for the catalogue (parse_result_line), not the PR
        else:
            lines.append(line)
    return verdict, "\n".join(lines).strip()


def parse_result_line(text: str) -> dict[str, Any] | None:
    """The summary step's `CCCI-RESULT: {…}` line (the run's results.json in brief), if any."""
    for line in text.splitlines():
        if line.startswith(RESULT_MARKER):
            try:
                found = json.loads(line.removeprefix(RESULT_MARKER))
            except ValueError:
                return None
            return found if isinstance(found, dict) else None
    return None


def find_step(build: dict[str, Any], step_name: str) -> tuple[int, int] | None:
    for stage in build.get("stages") or []:
        for step in stage.get("steps") or []:
            if step.get("name") == step_name:
                return int(stage["number"]), int(step["number"])
    return None


class DroneExecutor:
    name = "drone"

    def __init__(
        self,
        cfg: DroneExecutorConfig,
        token: SecretStr,
        policy: RetryPolicy,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.capacity = cfg.capacity
        self._cfg = cfg
        self._policy = policy
        self._sleep = sleep
        self._builds = f"/repos/{cfg.repo}/builds"
        self._http = httpx.Client(
            base_url=f"{cfg.url}/api",
            headers={"Authorization": f"Bearer {token.get_secret_value()}"},
            timeout=30.0,
            transport=transport,
        )

    def whoami(self) -> DroneUser:
        """The token's user, asked now with one call (no retry): `cc-ci bridge --check`."""
        user = _parse(self._ask_once("/user"), _User, "drone GET /api/user")
        return DroneUser(login=user.login, admin=user.admin)

    def repo_info(self) -> DroneRepo:
        """The configured repo as the token's user sees it, one call: `cc-ci bridge --check`."""
        what = f"drone GET /api/repos/{self._cfg.repo}"
        response = self._ask_once(f"/repos/{self._cfg.repo}")
        if response.status_code == 404:
            raise DroneRepoNotFound(f"{what}: HTTP 404")
        repo = _parse(response, _Repo, what)
        can_write = repo.permissions.write if repo.permissions else None
        return DroneRepo(slug=repo.slug, active=repo.active, can_write=can_write)

    def close(self) -> None:
        self._http.close()

    def _ask_once(self, path: str) -> httpx.Response:
        what = f"drone GET /api{path}"
        response = retried(
            lambda: send_once(self._http, "GET", path), RetryPolicy(attempts=1), what, DroneError
        )
        if response.status_code in (401, 403):
            raise DroneAuthError(f"{what}: HTTP {response.status_code}", response.status_code)
        if response.status_code not in (200, 404):
            raise DroneError(f"{what}: HTTP {response.status_code}")
        return response

    def can_resume(self, job: Job) -> bool:
        return bool(job.external_id)

    def cancel_all(self) -> None:
        """Builds run on Drone's runners; the bridge leaves them alone."""

    def reclaim(self, job: Job) -> bool:
        """A job without a build number never made a build; what a build killed on Drone's
        runner left is for `cc-ci gc` there (the shipped gc timer)."""
        return False

    def execute(self, job: Job, on_started: Callable[[Started], None]) -> Outcome:
        number = int(job.external_id) if job.external_id else self._create_build(job, on_started)
        build = self.await_build(number)
        if build is None:
            return Outcome(
                "error",
                f"Drone build {self.build_url(number)} did not finish within {self._cfg.timeout_seconds:.0f}s.",
            )
        return self._outcome(number, build)

    def _create_build(self, job: Job, on_started: Callable[[Started], None]) -> int:
        params = {
            "branch": self._cfg.branch,
            "RECIPE": job.recipe,
            "REF": job.head_sha,
            "PR": str(job.pr),
            "STAGES": ",".join(job.stages),
            "CCCI_RUN_ID": job.run_id,
        }
        if job.head_repo:  # a fork's PR: where the run looks for REF if refs/pull/<PR>/head lags
            params["PR_HEAD_REPO"] = job.head_repo
        number = self.create_build(params)
        on_started(Started(external_id=str(number), follow_url=self.build_url(number)))
        return number

    def create_build(self, params: dict[str, str]) -> int:
        """Create the build (`params`: the run's env, CCCI_RUN_ID among them; the branch is the
        config's); idempotent per run id. A POST that failed (5xx, lost connection) may
        still have made the build, so before asking again the recent builds are searched for one
        carrying this run's CCCI_RUN_ID: one `!testme`, one build."""
        what = f"drone POST {self._builds}"
        run_id = params["CCCI_RUN_ID"]
        params = {"branch": self._cfg.branch, **params}
        attempts = 0

        def create() -> int:
            nonlocal attempts
            attempts += 1
            made = self._build_for_run(run_id) if attempts > 1 else None
            if made is not None:
                log.info("run %s: the failed create call made build %s after all", run_id, made)
                return made
            response = send_once(self._http, "POST", self._builds, params=params)
            return int(expect_status(response, (200, 201), what, DroneError).json()["number"])

        number = retried(create, self._policy, what, DroneError, self._sleep)
        log.info("run %s: created Drone build %s", run_id, self.build_url(number))
        return number

    def _build_for_run(self, run_id: str) -> int | None:
        """The newest build whose params name this run, from the first page of the repo's builds."""
        response = send_once(self._http, "GET", self._builds, params={"page": 1})
        if response.status_code != 200:
            return None
        for build in response.json() or []:
            if (build.get("params") or {}).get("CCCI_RUN_ID") == run_id:
                return int(build["number"])
        return None

    def await_build(self, number: int) -> dict[str, Any] | None:
        """The build once it ended; None when it did not within the config's timeout."""
        deadline = time.monotonic() + self._cfg.timeout_seconds
        while time.monotonic() < deadline:
            try:
                build = self._call("GET", f"{self._builds}/{number}", ok=(200,)).json()
            except DroneError as err:
                # Drone being down for a while is not the run failing; keep waiting until the deadline.
                log.warning("%s", err)
            else:
                if build.get("status") not in RUNNING_STATES:
                    return dict(build)
            self._sleep(self._cfg.poll_interval_seconds)
        return None

    def _outcome(self, number: int, build: dict[str, Any]) -> Outcome:
        status = str(build.get("status"))
        verdict, summary = self._summary(number, build)
        verdict = verdict or verdict_for_build_status(status)
        if not summary:
            summary = f"Drone build {self.build_url(number)} ended with status `{status}`."
        return Outcome(verdict, summary)

    def _summary(self, number: int, build: dict[str, Any]) -> tuple[str | None, str]:
        return parse_summary_log(self.summary_log(number, build))

    def summary_log(self, number: int, build: dict[str, Any]) -> str:
        """The ended build's summary step log; empty when it has none or it cannot be read."""
        where = find_step(build, self._cfg.summary_step)
        if where is None:
            return ""
        stage, step = where
        try:
            lines = self._call("GET", f"{self._builds}/{number}/logs/{stage}/{step}", ok=(200,)).json()
        except DroneError as err:
            log.warning("%s", err)
            return ""
        return "".join(str(line.get("out", "")) for line in lines or [])

    def build_url(self, number: int) -> str:
        return f"{self._cfg.url}/{self._cfg.repo}/{number}"

    def _call(self, method: str, path: str, ok: tuple[int, ...], **kwargs: Any) -> httpx.Response:
        return request_with_retry(self._http, method, path, ok, self._policy,
                                  f"drone {method} {path}", DroneError, **kwargs)
