"""The catalogue file: which recipes to run, at which refs and stages, on which targets.

    stages: install,upgrade          # default for every recipe
    targets: [local, "ssh://ci@swarm-2.example.org"]   # optional; default: local
    stale_after_days: 7              # optional: a result older than this shows `stale`
    report: {webhook: https://hooks.example.org/cc-ci}   # optional: POST the regressions there
    recipes:
      - name: custom-html-tiny       # an enrolled/bundled recipe
      - name: my-recipe
        repo: https://git.example.org/coop-cloud/my-recipe.git   # or a local path
        ref: main
        stages: install

Read within a size bound by the one YAML loader (runner/recipe/bounded.py) and validated with
pydantic; anything wrong is BadInput (exit 2), one line naming the entry and what to do.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from runner.catalogue.model import CatalogueRecipe
from runner.errors import BadInput
from runner.ops import LIFECYCLE
from runner.recipe import bounded
from runner.recipe.repos import RECIPE_NAME
from runner.run.registry import unknown_docker_host

MAX_BYTES = 256 * bounded.KIB  # a catalogue of hundreds of recipes is some tens of KiB
DEFAULT_STALE_DAYS = 7.0


def check_stages(value: str) -> str:
    """A STAGES list of known ops, as `cc-ci run --stages` takes it."""
    ops = [op.strip() for op in value.split(",") if op.strip()]
    unknown = [op for op in ops if op not in LIFECYCLE.names]
    if not ops or unknown:
        raise ValueError(f"{value!r}: {'unknown stage ' + ', '.join(unknown) if unknown else 'no stage'}"
                         f" (stages are {','.join(LIFECYCLE.names)})")
    return ",".join(ops)


class TargetEntry(BaseModel):
    """A target and how many runs it takes at once (default: --jobs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str
    limit: int | None = Field(None, ge=1, le=64)

    @field_validator("target")
    @classmethod
    def _known(cls, value: str) -> str:
        if why := unknown_docker_host(value):
            raise ValueError(why)
        return value


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    repo: str | None = None
    ref: str | None = Field(None, min_length=1, max_length=256)
    stages: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not RECIPE_NAME.match(value):
            raise ValueError(f"{value!r} is not a recipe name (lower-case letters, digits and -)")
        return value

    @field_validator("stages")
    @classmethod
    def _stages(cls, value: str | None) -> str | None:
        return None if value is None else check_stages(value)

    @model_validator(mode="after")
    def _repo(self) -> _Entry:
        if self.repo and "://" in self.repo and not re.search(rf"/{re.escape(self.name)}(\.git)?/?$", self.repo):
            raise ValueError(f"repo {self.repo!r} does not end in /{self.name}[.git]: a URL names the recipe's own repo")
        return self


class ReportEntry(BaseModel):
    """`report:` of the file: where a regression is reported besides the matrix (opt-in)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    webhook: str | None = None  # POSTed a JSON of the catalogue run's regressions
    timeout_seconds: float = Field(default=10.0, gt=0, le=60)

    @field_validator("webhook")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stages: str = Field(default_factory=lambda: ",".join(LIFECYCLE.default_stages))  # as `cc-ci run`
    targets: list[TargetEntry] = Field(default_factory=lambda: [TargetEntry(target="local", limit=None)])
    stale_after_days: float = Field(DEFAULT_STALE_DAYS, gt=0, le=3650)
    recipes: list[_Entry] = Field(min_length=1)
    report: ReportEntry = ReportEntry()

    @field_validator("stages")
    @classmethod
    def _stages(cls, value: str) -> str:
        return check_stages(value)

    @field_validator("targets", mode="before")
    @classmethod
    def _targets(cls, value: Any) -> Any:
        """`local` is short for `{target: local}`; each target once."""
        if not isinstance(value, list):
            return value
        value = [{"target": t} if isinstance(t, str) else t for t in value]
        named = [t.get("target") for t in value if isinstance(t, dict)]
        if dupes := [t for i, t in enumerate(named) if t in named[:i]]:
            raise ValueError(f"{dupes[0]!r} is listed twice; list each target once (with a limit)")
        if not value:
            raise ValueError("is empty; name at least one (e.g. local) or leave it out")
        return value


class Catalogue(BaseModel):
    """The file, read: every recipe with its defaults filled in; targets with their limits."""

    model_config = ConfigDict(frozen=True)

    path: Path
    recipes: tuple[CatalogueRecipe, ...]
    targets: tuple[TargetEntry, ...]
    stale_after_s: float
    report: ReportEntry = ReportEntry()


def load(path: Path) -> Catalogue:
    """The catalogue at `path`, or BadInput naming the file and the entry that is wrong."""
    name = str(path)
    try:
        size = os.stat(path).st_size
    except OSError as err:
        raise BadInput(f"{name}: cannot read the catalogue ({err.strerror}); check the path") from None
    if size > MAX_BYTES:
        raise bounded.too_big(name, size, MAX_BYTES)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise BadInput(f"{name}: cannot read the catalogue ({err}); save it as UTF-8 text") from None
    return parse(bounded.load_yaml(text, name), path)


def parse(data: Any, path: Path) -> Catalogue:
    if not isinstance(data, dict):
        raise BadInput(f"{path}: a catalogue is a mapping with `recipes:`; see docs/catalogue.md")
    try:
        raw = _File.model_validate(data)
    except ValidationError as err:
        raise BadInput(f"{path}: {_entry_error(err, data)}; see docs/catalogue.md") from None
    names = [entry.name for entry in raw.recipes]
    if dupes := sorted({n for n in names if names.count(n) > 1}):
        raise BadInput(f"{path}: recipe {dupes[0]!r} is listed twice; list each recipe once")
    targets = tuple(raw.targets)
    recipes = tuple(CatalogueRecipe(name=e.name, repo=_repo(e.repo, path), ref=e.ref, stages=e.stages or raw.stages)
                    for e in raw.recipes)
    return Catalogue(path=path, recipes=recipes, targets=targets, stale_after_s=raw.stale_after_days * 86400,
                     report=raw.report)


def _repo(repo: str | None, path: Path) -> str | None:
    """A local path is the file's own: relative to the folder the catalogue file is in."""
    if repo is None or "://" in repo:
        return repo
    return str((path.parent / Path(repo).expanduser()).resolve())


def _entry_error(err: ValidationError, data: dict[str, Any]) -> str:
    """The first problem, named by its entry: `recipes[2] (my-recipe): stages: unknown stage foo`."""
    first = err.errors()[0]
    where = [str(part) for part in first["loc"]]
    message = str(first["msg"]).removeprefix("Value error, ")
    if len(where) >= 2 and where[0] == "recipes" and where[1].isdigit():
        index = int(where[1])
        entries = data.get("recipes")
        entry = entries[index] if isinstance(entries, list) and index < len(entries) else None
        label = f" ({entry['name']})" if isinstance(entry, dict) and isinstance(entry.get("name"), str) else ""
        field = f"{'.'.join(where[2:])}: " if len(where) > 2 else ""
        return f"recipes[{index}]{label}: {field}{message}"
    return f"{'.'.join(where) or 'the file'}: {message}"
