"""RunConfig: the run's input, read from env vars and validated before anything is created."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from runner.errors import BadInput
from runner.plumbing.hostid import HOST_ID, default_host_id
from runner.plumbing.paths import ALLOWLIST_FILE, default_deps_dir, default_runs_dir
from runner.recipe import naming, repos
from runner.run import registry
from runner.run.lastgreen import (
    LAST_GREEN,
    LastGreen,
    check_catalogue_mark,
    default_history_path,
    resolve_last_green,
)
from runner.run.lifecycle import Lifecycle

_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/+-]{0,199}$")

# env var -> field; the README's table lists the same names
ENV_VARS = {
    "RECIPE": "recipe",
    "REF": "ref",
    "PR": "pr",
    "PR_HEAD_REPO": "pr_head_repo",
    "STAGES": "stages",
    "VERSION": "version",
    "UPGRADE_FROM": "upgrade_from",
    "CCCI_CATALOGUE_HISTORY": "catalogue_history",
    "CCCI_CATALOGUE": "catalogue",
    "CCCI_RUN_ID": "run_id",
    "CCCI_RUNS_DIR": "runs_dir",
    "CCCI_DEPS_DIR": "deps_dir",
    "CCCI_DRIVER": "driver",
    "CCCI_RESOLVE_IMAGE": "resolve_image",
    "CCCI_DEPLOY_TIMEOUT": "deploy_timeout_s",
    "CCCI_DNSRR": "dnsrr",
    "CCCI_DOMAIN_BASE": "domain_base",
    "CCCI_SKIP_GENERIC": "skip_generic",
    "CCCI_RECIPE_URL_TEMPLATE": "recipe_url_template",
    "CCCI_OVERLAY_DIR": "overlay_dir",
    "CCCI_APPROVED_FILE": "approved_file",
    "CCCI_DOCKER_HOST": "docker_host",
    "CCCI_SSH_KEY": "ssh_key",
    "CCCI_SSH_KNOWN_HOSTS": "ssh_known_hosts",
    "CCCI_SSH_RECONNECT": "ssh_reconnect_s",
    "CCCI_HOST_ID": "host_id",
    "CCCI_TEST_REFUSE_LOCAL_REACH": "refuse_local_reach",
}


class DriverSettings(BaseModel):
    """What a driver is configured with; the part of RunConfig a driver reads."""

    model_config = ConfigDict(frozen=True)

    domain_base: str = "ccci.test"
    resolve_image: Literal["auto", "always", "changed", "never"] = "auto"
    deploy_timeout_s: int = 120
    bundled_recipe: bool = False  # its images exist only locally: `auto` resolves to `never`
    # endpoint_mode dnsrr for every service: `auto` where the host's kernel has no IPVS
    dnsrr: Literal["auto", "on", "off"] = "auto"


class TargetSettings(BaseModel):
    """Where the swarm is and how to reach it; the part of RunConfig a target reads (gc's too)."""

    model_config = ConfigDict(frozen=True)

    docker_host: str = "local"  # chooses the target (runner/run/registry.py): `local`, or ssh://user@host[:port]
    ssh_known_hosts: Path = Field(default_factory=lambda: Path.home() / ".ssh" / "known_hosts")
    ssh_key: Path | None = None  # the identity; None: ~/.ssh's keys and the agent
    ssh_reconnect_s: float = Field(60.0, gt=0, le=3600)  # how long a lost SSH link is tried again
    host_id: str = Field(default_factory=default_host_id)
    refuse_local_reach: bool = False  # a test switch (runner/targets/guard.py)

    @field_validator("docker_host")
    @classmethod
    def _docker_host(cls, value: str) -> str:
        value = value.strip() or "local"
        if refused := registry.unknown_docker_host(value):
            raise ValueError(refused)
        return value

    @field_validator("ssh_key")
    @classmethod
    def _ssh_key(cls, value: Path | None) -> Path | None:
        if value is not None and not value.expanduser().is_file():
            raise ValueError(f"{str(value)!r} is not a file (the SSH identity to use)")
        return None if value is None else value.expanduser().resolve()

    @field_validator("ssh_known_hosts")
    @classmethod
    def _known_hosts(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("host_id")
    @classmethod
    def _host_id(cls, value: str) -> str:
        if not HOST_ID.match(value):
            raise ValueError(f"{value!r} must match {HOST_ID.pattern} (it becomes a docker label)")
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> TargetSettings:
        """The target settings alone (gc), bad input named by its env var."""
        fields = set(cls.model_fields)
        raw = {field: environ[var] for var, field in ENV_VARS.items() if field in fields and environ.get(var, "").strip()}
        try:
            return cls.model_validate(raw)
        except ValidationError as err:
            raise BadInput(_first_error(err)) from None


def _first_error(err: ValidationError) -> str:
    first = err.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    var = next((v for v, f in ENV_VARS.items() if f == field), field)
    return f"{var}: {first['msg'].removeprefix('Value error, ')}"


class RunConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    recipe: str = Field(description="enrolled recipe name, or a path to a recipe git repo")
    ref: str | None = Field(None, description="commit, branch or tag to test (default: the repo's HEAD)")
    pr: int | None = Field(None, ge=1, description="pull request whose head is tested: refs/pull/<PR>/head "
                           "of the recipe repo, which must be REF when REF is set")
    pr_head_repo: str | None = Field(None, description="the repo the PR's head lives in when the forge "
                                     "says it is another (a fork): where REF is looked for next")
    # the ops to run, in lifecycle order with what they need (the Lifecycle handed to from_env)
    stages: tuple[str, ...] = Field((), validate_default=True)
    version: str | None = Field(None, description="release tag to install instead of REF")
    upgrade_from: str = Field("previous", description="where the upgrade starts: `previous` (the base), `all` "
                              "(every older release, hop by hop), `<n>` (the n newest), a comma list of releases, "
                              "or `last-green` (the recipe's last commit that passed the catalogue)")
    catalogue_history: Path = Field(default_factory=default_history_path,
                                    description="the catalogue's history that `last-green` is read from")
    # the recipe's name in the catalogue, from the mark `cc-ci catalogue run` sets for its own runs
    # (CCCI_CATALOGUE=<recipe>@<catalogue run>, checked by from_env); results.json records it, so
    # that the dashboard's badge follows catalogue runs too
    catalogue: str | None = None
    # UPGRADE_FROM=last-green, resolved by from_env before anything is deployed (never an env var)
    last_green: LastGreen | None = None
    run_id: str = Field(default_factory=naming.new_run_id)
    runs_dir: Path = Field(default_factory=default_runs_dir)
    deps_dir: Path = Field(default_factory=default_deps_dir, description="where shared dependencies (DEPS) keep "
                           "their run dirs, leases and locks (default: ~/.local/state/cc-ci/deps)")
    driver: str = "swarm"  # one of runner/run/registry.py's DRIVERS
    resolve_image: Literal["auto", "always", "changed", "never"] = "auto"
    deploy_timeout_s: int = Field(120, ge=5, le=3600)
    dnsrr: Literal["auto", "on", "off"] = "auto"
    domain_base: str = "ccci.test"
    # ops whose generic floor is not collected (CCCI_SKIP_GENERIC=1, CCCI_SKIP_GENERIC_<OP>=1)
    skip_generic: frozenset[str] = frozenset()
    overlay_dir: Path | None = Field(None, description="the recipe's overlays, ops.py, recipe_meta.py, custom/ "
                                     "(default: tests/<recipe> of cc-ci)")
    approved_file: Path = Field(ALLOWLIST_FILE, description="the allowlist of repo-local code "
                                "(default: tests/repo-local-approved.txt of cc-ci)")
    recipe_url_template: str = Field(repos.DEFAULT_URL_TEMPLATE,
                                     description="where enrolled names that are not bundled are cloned from")
    docker_host: str = Field("local", description=f"where the swarm is: {registry.docker_host_forms()}")
    ssh_key: Path | None = Field(None, description="the SSH identity for an ssh:// docker host")
    ssh_known_hosts: Path = Field(default_factory=lambda: Path.home() / ".ssh" / "known_hosts")
    ssh_reconnect_s: float = Field(60.0, gt=0, le=3600, description="how long a lost SSH link is tried again "
                                   "(seconds) before the op using it fails")
    host_id: str = Field(default_factory=default_host_id, description="this harness host's identity (gc)")
    refuse_local_reach: bool = False

    @field_validator("driver")
    @classmethod
    def _driver(cls, value: str) -> str:
        if refused := registry.unknown_driver(value):
            raise ValueError(refused)
        return value

    @field_validator("recipe")
    @classmethod
    def _recipe(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("is empty; set RECIPE to a recipe name or a path to a recipe repo")
        if repos.RECIPE_NAME.match(value):
            return value
        path = Path(value).expanduser()
        if not path.is_dir():
            raise ValueError(f"{value!r} is neither a recipe name ([a-z0-9-]) nor an existing directory")
        if not (path / "compose.yml").is_file() or not (path / ".env.sample").is_file():
            raise ValueError(f"{value!r} ({path.resolve()}) is not a recipe: it needs compose.yml and .env.sample")
        if not (path / ".git").exists():
            raise ValueError(f"{value!r} is not a git repo; cc-ci deploys recipe releases from git tags")
        return str(path.resolve())

    @field_validator("ref", "version")
    @classmethod
    def _ref(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not _REF.match(value) or ".." in value or "@{" in value:
            raise ValueError(f"{value!r} is not a git ref (letters, digits, . _ / + -)")
        return value

    @field_validator("stages", mode="before")
    @classmethod
    def _stages(cls, value: object, info: ValidationInfo) -> tuple[str, ...]:
        lifecycle = _lifecycle(info)
        items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
        wanted = [s.strip().lower() for s in items if s.strip()]
        return lifecycle.stages(wanted) if wanted else lifecycle.default_stages

    @field_validator("upgrade_from")
    @classmethod
    def _upgrade_from(cls, value: str) -> str:
        value = value.strip() or "previous"
        if value in ("previous", "all", LAST_GREEN) or (value.isdigit() and int(value) >= 1):
            return value
        if value.isdigit():
            raise ValueError("a number of releases must be 1 or more")
        tags = [tag.strip() for tag in value.split(",")]
        if any(not tag or not _REF.match(tag) for tag in tags):
            raise ValueError(f"{value!r} is not `previous`, `all`, `last-green`, a number of releases or a comma list of release tags")
        return ",".join(tags)

    @field_validator("skip_generic", mode="before")
    @classmethod
    def _skip_generic(cls, value: object, info: ValidationInfo) -> frozenset[str]:
        if isinstance(value, str):  # CCCI_SKIP_GENERIC: 1/true = every op
            return _generic_switch(value, _lifecycle(info).names)
        return frozenset(value)  # type: ignore[call-overload]

    @field_validator("overlay_dir")
    @classmethod
    def _overlay_dir(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        if not value.expanduser().is_dir():
            raise ValueError(f"{str(value)!r} is not a directory")
        return value.expanduser().resolve()

    @field_validator("approved_file")
    @classmethod
    def _approved_file(cls, value: Path) -> Path:
        if not value.expanduser().is_file():  # never "allow all" because of a typo in a path
            raise ValueError(f"{str(value)!r} does not exist (the allowlist of repo-local code)")
        return value.expanduser().resolve()

    @field_validator("recipe_url_template")
    @classmethod
    def _url_template(cls, value: str) -> str:
        if "{name}" not in value:
            raise ValueError(f"{value!r} has no {{name}} placeholder for the recipe name")
        return value

    @field_validator("run_id")
    @classmethod
    def _run_id(cls, value: str) -> str:
        if not naming.RUN_ID.match(value):
            raise ValueError(f"{value!r} must match {naming.RUN_ID.pattern}")
        return value

    @field_validator("pr_head_repo")
    @classmethod
    def _pr_head_repo(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if value.strip().startswith("-") or any(c.isspace() for c in value.strip()):
            raise ValueError(f"{value!r} is not a git URL or path")
        return value.strip()

    @model_validator(mode="after")
    def _target(self) -> RunConfig:
        self.target_settings  # noqa: B018 - validated with the rest, named by its env var
        return self

    @model_validator(mode="after")
    def _version_xor_ref(self) -> RunConfig:
        if self.version and (self.ref or self.pr):
            raise ValueError("set REF or PR (a head to test) or VERSION (a release to install), not both")
        if self.pr_head_repo and not (self.pr and self.ref):
            raise ValueError("PR_HEAD_REPO is where PR's head REF is looked for; set PR and REF too")
        return self

    @property
    def recipe_name(self) -> str:
        return Path(self.recipe).name if "/" in self.recipe else self.recipe

    @property
    def is_path(self) -> bool:
        return "/" in self.recipe

    @property
    def recipe_source(self) -> str:
        """What the run clones: the path, the bundled fixture repo, or the enrolled name's URL."""
        if self.is_path:
            return self.recipe
        if repos.is_bundled(self.recipe):
            return str(repos.bundled_recipe_repo(self.recipe))
        return self.recipe_url_template.format(name=self.recipe)

    @property
    def driver_settings(self) -> DriverSettings:
        return DriverSettings(domain_base=self.domain_base, resolve_image=self.resolve_image,
                              deploy_timeout_s=self.deploy_timeout_s, dnsrr=self.dnsrr,
                              bundled_recipe=not self.is_path and repos.is_bundled(self.recipe))

    @property
    def target_settings(self) -> TargetSettings:
        return TargetSettings(docker_host=self.docker_host, ssh_key=self.ssh_key, ssh_known_hosts=self.ssh_known_hosts,
                              ssh_reconnect_s=self.ssh_reconnect_s, host_id=self.host_id,
                              refuse_local_reach=self.refuse_local_reach)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], lifecycle: Lifecycle) -> RunConfig:
        """The run's input; STAGES and the generic-floor switches are read against `lifecycle`
        (the ops' own declarations, `runner.ops.LIFECYCLE`)."""
        raw: dict[str, object] = {field: environ[var] for var, field in ENV_VARS.items()
                                  if environ.get(var, "").strip()}
        per_op = _per_op_skips(environ, lifecycle)
        if per_op:
            try:
                every = _generic_switch(str(raw.get("skip_generic", "")), lifecycle.names)
            except ValueError as err:
                raise BadInput(f"CCCI_SKIP_GENERIC: {err}") from None
            raw["skip_generic"] = every | per_op
        if "recipe" not in raw:
            raise BadInput("RECIPE is not set; set it to a recipe name (e.g. custom-html-tiny) or a path")
        if "catalogue" in raw:  # a hand run with a stray CCCI_CATALOGUE is refused, not marked
            history = Path(str(raw.get("catalogue_history") or default_history_path()))
            raw["catalogue"] = check_catalogue_mark(str(raw["catalogue"]), history)
        try:
            config = cls.model_validate(raw, context={"lifecycle": lifecycle})
        except ValidationError as err:
            raise BadInput(_first_error(err)) from None
        if config.upgrade_from != LAST_GREEN:
            return config
        # the catalogue knows the recipe by its name in the file; `cc-ci run` by its own
        found = resolve_last_green(config.catalogue_history, config.catalogue or config.recipe_name)
        return config.model_copy(update={"last_green": found})


def _lifecycle(info: ValidationInfo) -> Lifecycle:
    lifecycle = (info.context or {}).get("lifecycle")
    if not isinstance(lifecycle, Lifecycle):
        raise TypeError("RunConfig is read with RunConfig.from_env(environ, lifecycle)")
    return lifecycle


def _generic_switch(value: str, ops: tuple[str, ...]) -> frozenset[str]:
    """CCCI_SKIP_GENERIC: 1 = every op's generic floor is skipped, 0 = none."""
    if value.strip().lower() in ("1", "true", "yes"):
        return frozenset(ops)
    if value.strip().lower() in ("", "0", "false", "no"):
        return frozenset()
    raise ValueError(f"{value!r} is not 1 or 0")


def skip_generic_var(op: str) -> str:
    """The env var that skips one op's generic floor: CCCI_SKIP_GENERIC_RESTORE_FRESH for restore-fresh."""
    return f"CCCI_SKIP_GENERIC_{op.upper().replace('-', '_')}"


def _per_op_skips(environ: Mapping[str, str], lifecycle: Lifecycle) -> frozenset[str]:
    """CCCI_SKIP_GENERIC_<OP>=1 for each op whose generic floor is skipped."""
    skipped = set()
    for op in lifecycle.names:
        value = environ.get(skip_generic_var(op), "").strip().lower()
        if value in ("1", "true", "yes"):
            skipped.add(op)
        elif value not in ("", "0", "false", "no"):
            raise BadInput(f"{skip_generic_var(op)}: {value!r} is not 1 or 0")
    return frozenset(skipped)
