"""The bridge's one configuration file (YAML), validated with pydantic. See docs/bridge.md.

Secrets are never written in the file itself: each is a reference to an env var or a file, read
once at load time into a SecretStr so that no repr, log line or error message can show it.
"""

from __future__ import annotations

import os
import re
import sys
from datetime import UTC, time, tzinfo
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
from runner.catalogue import file as catalogue_file
from runner.catalogue.history import default_path as default_history_path
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

_TIME_OF_DAY = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


class NightlyConfig(_Model):
    """`nightly:`: the catalogue run once a day at `at` (docs/catalogue.md, Scheduling)."""

    catalogue: Path  # the catalogue file; relative: to the bridge config's folder
    at: str  # HH:MM, in `timezone`
    timezone: str = "UTC"  # an IANA name (Europe/Berlin): `at` follows its daylight saving
    jobs: int = Field(default=1, ge=1, le=64)  # local executor: runs at once (Drone: its capacity)
    bisect: bool = True
    retry: bool = True
    # "owner/name" of an enrolled repo -> the number of its tracking issue: a regression of that
    # repo's recipe is commented there (opt-in per repo)
    tracking_issues: dict[str, int] = Field(default_factory=dict)

    @field_validator("at")
    @classmethod
    def _time_of_day(cls, value: str) -> str:
        if not _TIME_OF_DAY.fullmatch(value):
            raise ValueError(f"{value!r} is not a time of day; write HH:MM, 00:00 to 23:59 (e.g. \"03:00\")")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value == "UTC":
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone this host knows (e.g. UTC, Europe/Berlin)") from None
        return value

    @field_validator("tracking_issues")
    @classmethod
    def _repos(cls, value: dict[str, int]) -> dict[str, int]:
        for repo, number in value.items():
            if number < 1:
                raise ValueError(f"{repo}: issue number {number} must be 1 or more")
        return {_owner_name(repo).lower(): number for repo, number in value.items()}

    @property
    def at_time(self) -> time:
        hour, minute = self.at.split(":")
        return time(int(hour), int(minute))

    @property
    def zone(self) -> tzinfo:
        # UTC without the tz database: a host without tzdata still runs the default
        return UTC if self.timezone == "UTC" else ZoneInfo(self.timezone)


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
    nightly: NightlyConfig | None = None
    # The catalogue's history: where `nightly` records and the dashboard's /catalogue reads
    # (default: the catalogue's own, <state dir of the bridge's user>/catalogue.sqlite)
    catalogue_history: Path | None = None

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

    @model_validator(mode="after")
    def _nightly_fits(self) -> BridgeConfig:
        nightly = self.nightly
        if nightly is None:
            return self
        if isinstance(self.executor, LocalExecutorConfig) and self.executor.run_user:
            # its runs would run as the bridge's user, not run_user: use the systemd timer instead
            raise ValueError("nightly: not with executor.run_user (the catalogue's runs would not run as "
                             "that user); run the catalogue with deploy/systemd/cc-ci-catalogue.timer instead")
        untracked = [repo for repo in nightly.tracking_issues if repo not in self.repos]
        if untracked:
            raise ValueError(f"nightly.tracking_issues: {untracked[0]} is not an enrolled repo (`repos`)")
        return self

    def recipe_for(self, repo: str) -> str | None:
        return self.repos.get(repo.lower())

    def allowlisted(self, login: str) -> bool:
        return login.lower() in {name.lower() for name in self.allowlist}

    @property
    def db_path(self) -> Path:
        return self.state_dir / "bridge.sqlite3"

    @property
    def history_path(self) -> Path:
        return self.catalogue_history or default_history_path()


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
        cfg = BridgeConfig.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        message = first["msg"].removeprefix("Value error, ")
        raise BadInput(
            f"bridge config: {path}: {where}: {message} ({err.error_count()} error(s))"
        ) from None
    return _with_nightly_catalogue(cfg, path)


def _with_nightly_catalogue(cfg: BridgeConfig, path: Path) -> BridgeConfig:
    """The nightly catalogue file, relative to the config's folder, read now: a missing or invalid
    file stops the bridge at start (and `--check`), not at 03:00."""
    if cfg.nightly is None:
        return cfg
    catalogue = path.parent / cfg.nightly.catalogue.expanduser()
    try:
        catalogue_file.load(catalogue)
    except BadInput as err:
        raise BadInput(f"bridge config: {path}: nightly.catalogue: {err}") from None
    return cfg.model_copy(update={"nightly": cfg.nightly.model_copy(update={"catalogue": catalogue.resolve()})})
