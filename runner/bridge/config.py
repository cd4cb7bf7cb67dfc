"""The bridge's one configuration file (YAML), validated with pydantic. See docs/bridge.md.

Secrets are never written in the file itself: each is a reference to an env var or a file, read
once at load time into a SecretStr so that no repr, log line or error message can show it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from runner.bridge.grammar import DEFAULT_STAGES, STAGES, canonical_stages
from runner.errors import BadInput

REPO_ROOT = Path(__file__).resolve().parents[2]


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value.rstrip("/")


# A base URL: http(s) only, without a trailing slash so paths can be appended.
HttpUrlStr = Annotated[str, AfterValidator(_http_url)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(_Model):
    """`{env: NAME}` or `{file: /path}`; resolved by `resolve_secret`."""

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _a_reference_not_a_value(cls, data: object) -> object:
        # The value itself is never echoed: it may be the secret.
        if not isinstance(data, dict | SecretRef):
            raise ValueError(
                "a secret is given as a reference, not as its value: write `{env: VAR_NAME}` "
                "(read from that environment variable) or `{file: /path/to/file}`"
            )
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of `env` or `file`")
        return self


class ForgeConfig(_Model):
    url: HttpUrlStr
    token: SecretRef
    timeout_seconds: float = Field(default=10.0, gt=0)


class WebhookConfig(_Model):
    secret: SecretRef
    host: str = "127.0.0.1"
    port: int = Field(default=8088, ge=0, le=65535)
    path: str = "/webhook"
    max_body_bytes: int = Field(default=256 * 1024, gt=0)


class PollConfig(_Model):
    interval_seconds: float = Field(default=0.0, ge=0)  # 0 = polling off


class RetryConfig(_Model):
    attempts: int = Field(default=5, ge=1)
    base_seconds: float = Field(default=1.0, ge=0)
    max_seconds: float = Field(default=30.0, ge=0)


class LocalExecutorConfig(_Model):
    kind: Literal["local"] = "local"
    capacity: int = Field(default=1, ge=1)
    # The run command; the job is passed in env vars (RECIPE, REF, PR, STAGES, CCCI_RUN_ID, CCCI_RUNS_DIR).
    command: list[str] = Field(
        default_factory=lambda: [sys.executable, "-m", "runner.run_recipe_ci"]
    )
    workdir: Path = REPO_ROOT
    runs_dir: Path = Path("/var/lib/cc-ci/runs")
    timeout_seconds: float = Field(default=4 * 3600.0, gt=0)
    env: dict[str, str] = Field(default_factory=dict)
    # Run each job as this Unix user (in the `docker` group) instead of the bridge's own: the run
    # then cannot read the bridge's secret files or /proc/<bridge pid>/environ. Needs a root bridge.
    run_user: str | None = None
    # `cc-ci gc`, run (with `--run <run id>`, as the run user, with the run's env) before a job
    # whose run died with the bridge is re-queued: it reclaims what the dead attempt left.
    gc_command: list[str] = Field(
        default_factory=lambda: [sys.executable, "-m", "runner.cli", "gc"]
    )


class DroneExecutorConfig(_Model):
    kind: Literal["drone"]
    url: HttpUrlStr
    token: SecretRef
    repo: str  # the Drone repo holding the cc-ci pipeline, "owner/name"
    branch: str = "main"
    capacity: int = Field(default=4, ge=1)
    poll_interval_seconds: float = Field(default=15.0, gt=0)
    timeout_seconds: float = Field(default=4 * 3600.0, gt=0)
    summary_step: str = "summary"

    @field_validator("repo")
    @classmethod
    def _repo_name(cls, value: str) -> str:
        return _owner_name(value)


def _owner_name(repo: str) -> str:
    """`owner/name`, as forges and Drone name a repo; anything else is refused."""
    owner, _, name = repo.partition("/")
    if not owner or not name or "/" in name:
        raise ValueError(f"repo {repo!r} must be owner/name")
    return repo


ExecutorConfig = Annotated[LocalExecutorConfig | DroneExecutorConfig, Field(discriminator="kind")]


class BridgeConfig(_Model):
    forge: ForgeConfig
    webhook: WebhookConfig
    poll: PollConfig = PollConfig()
    repos: dict[str, str]  # "owner/name" on the forge -> enrolled recipe name
    allowlist: list[str] = Field(default_factory=list)
    executor: ExecutorConfig = LocalExecutorConfig()
    state_dir: Path = Path("/var/lib/cc-ci/bridge")
    public_url: str | None = None  # where the bridge's /runs/<id> pages are reachable
    # Commit statuses are posted as `<status_context>/<stages>` (e.g. `cc-ci/install,upgrade`):
    # one context per stage set, so runs of different stages on one head do not overwrite each other.
    status_context: str = "cc-ci"
    log_format: Literal["text", "json"] = "text"  # json: one JSON object per line (`--log-format`)
    # The stages `!testme` may ask for; others get a reply. Defaults to every op of the lifecycle.
    stages: tuple[str, ...] = STAGES
    # What a bare `!testme` runs. Defaults to what a hand run runs (the lifecycle's default
    # stages), less those outside `stages`; kept in the harness's spelling (needs, order).
    default_stages: tuple[str, ...] = DEFAULT_STAGES
    reply_to_unauthorised: bool = False
    max_attempts: int = Field(
        default=2, ge=1
    )  # a run interrupted by a bridge crash is retried up to this
    retry: RetryConfig = RetryConfig()

    @field_validator("repos")
    @classmethod
    def _repo_names(cls, value: dict[str, str]) -> dict[str, str]:
        return {_owner_name(repo).lower(): recipe for repo, recipe in value.items()}

    @field_validator("stages", "default_stages")
    @classmethod
    def _known_stages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [stage for stage in value if stage not in STAGES]
        if unknown or not value:
            raise ValueError(f"stages must be a non-empty subset of {', '.join(STAGES)}")
        return value

    @field_validator("stages")
    @classmethod
    def _stages_bring_what_they_need(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # The harness runs what a stage needs whether asked or not: offering `restore` without
        # `backup` would offer a run that is refused every time.
        for stage in value:
            needed = [need for need in canonical_stages([stage]) if need not in value]
            if needed:
                raise ValueError(f"{stage!r} needs {needed[0]!r}; add it to `stages`")
        return value

    @model_validator(mode="after")
    def _defaults_are_accepted(self) -> BridgeConfig:
        if "default_stages" in self.model_fields_set:
            chosen = self.default_stages
            refused = [stage for stage in chosen if stage not in self.stages]
            if refused:
                raise ValueError(
                    f"default_stages: {refused[0]!r} is not in `stages` ({', '.join(self.stages)})"
                )
        else:
            chosen = tuple(stage for stage in DEFAULT_STAGES if stage in self.stages)
            if not chosen:
                raise ValueError(
                    f"default_stages: none of the lifecycle's default ({', '.join(DEFAULT_STAGES)}) "
                    "is in `stages`; set `default_stages`"
                )
        # The model is frozen; this fills in the resolved value once, while it is being built.
        object.__setattr__(self, "default_stages", canonical_stages(chosen))
        return self

    def recipe_for(self, repo: str) -> str | None:
        return self.repos.get(repo.lower())

    def allowlisted(self, login: str) -> bool:
        return login.lower() in {name.lower() for name in self.allowlist}

    @property
    def db_path(self) -> Path:
        return self.state_dir / "bridge.sqlite3"


def resolve_secret(ref: SecretRef, what: str) -> SecretStr:
    if ref.env is not None:
        value = os.environ.get(ref.env)
        if not value:
            raise BadInput(f"bridge config: {what}: env var {ref.env} is not set")
    else:
        assert ref.file is not None
        try:
            value = ref.file.read_text().strip()
        except OSError as err:
            raise BadInput(
                f"bridge config: {what}: cannot read {ref.file}: {err.strerror}"
            ) from None
        if not value:
            raise BadInput(f"bridge config: {what}: {ref.file} is empty")
    return SecretStr(value)


def load_config(path: Path) -> BridgeConfig:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as err:
        raise BadInput(f"bridge config: cannot read {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise BadInput(f"bridge config: {path} is not valid YAML: {err}") from None
    try:
        return BridgeConfig.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        message = first["msg"].removeprefix("Value error, ")
        raise BadInput(
            f"bridge config: {path}: {where}: {message} ({err.error_count()} error(s))"
        ) from None
