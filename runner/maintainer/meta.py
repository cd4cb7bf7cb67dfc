"""A recipe's settings: the typed registry of every name a `recipe_meta.py` may set.

`recipe_meta.py` is cc-ci's own `tests/<recipe>/recipe_meta.py` or, when approved, the recipe
repo's `cc-ci/recipe_meta.py`. Its ALL-CAPS module-level names are settings and must be fields of
`RecipeMeta` (a typo is bad input, with a suggestion); `_private` and lower-case names are the
file's own helpers. Loaded and validated once by the orchestrator, before anything is deployed.

`python -m runner.maintainer.meta` prints the settings table of the docs; `--update` rewrites it.
"""

from __future__ import annotations

import collections.abc
import difflib
import re
import sys
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from runner.errors import BadInput
from runner.maintainer.problems import Shown, in_folder
from runner.maintainer.pyfile import load_module
from runner.run.lifecycle import Lifecycle

ReadyProbe = Callable[[Any], bool]  # called with the hook ctx (`runner.maintainer.hooks.HookContext`)


class RecipeMeta(BaseModel):
    """Every setting a recipe can set. The docs' settings table is generated from these fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    DEPLOY_TIMEOUT: StrictInt | None = Field(
        None, ge=1, le=3600,
        description="seconds to wait for convergence (and READY_PROBE) when the compose files carry no "
                    "`coop-cloud.${STACK_NAME}.timeout` label; default: `CCCI_DEPLOY_TIMEOUT`")
    UPGRADE_BASE_VERSION: StrictStr | None = Field(
        None, description="the release the upgrade starts from; must be a release tag of the recipe")
    EXTRA_ENV: dict[StrictStr, StrictStr] = Field(
        default_factory=dict, description="app env keys added or overridden before the first deploy")
    UPGRADE_EXTRA_ENV: dict[StrictStr, StrictStr] = Field(
        default_factory=dict, description="app env keys the upgrade adds or overrides")
    SKIP_GENERIC: StrictBool | frozenset[StrictStr] = Field(
        False, description="`True`, or a set of ops whose generic floor is not collected")
    HEALTH_PATH: StrictStr = Field(
        "/", description="what the generic serving checks of install and upgrade request")
    READY_PROBE: ReadyProbe | None = Field(
        None, description="`probe(ctx) -> bool` on the hook ctx, polled after install, upgrade and restore "
                          "have converged until true or the deploy timeout")
    BACKUP_CAPABLE: StrictBool | None = Field(
        None, description="`None`: decided from the backupbot labels; `False`: backup and restore skip; "
                          "`True`: a recipe without the labels is an error")
    SKIP_WITNESSES: StrictStr | None = Field(
        None, description="why the harness must not plant its witness files (`.cc-ci-witness-<hex>`) in the "
                          "app's volumes, e.g. an app that refuses unknown files there; then the restore floor "
                          "relies on the restore's read-back alone (docs/generic-floor.md)")
    EXPECTED_NA: dict[StrictStr, StrictStr] = Field(
        default_factory=dict, description="`{stage: reason}` for stages that cannot apply to this recipe: "
                                          "not performed, and climbed on the level ladder with the reason")
    DEPS: list[StrictStr] = Field(
        default_factory=list, description="other enrolled recipes the recipe needs beside it (`\"sso-tiny\"`, or `\"sso-tiny:<version>\"`): "
                        "each deployed once per target, shared by runs under a lease and provisioned per run "
                        "(docs/enroll-recipe.md, \"Dependencies\")")
    DEPS_ENV: dict[StrictStr, StrictStr] = Field(
        default_factory=dict, description="app env keys set before the first deploy from what a dependency's "
                                          "`provision` returned: `{\"OIDC_ISSUER\": \"{sso-tiny.issuer}\"}`")
    LINT_OPT_OUT: dict[StrictStr, StrictStr] = Field(
        default_factory=dict, description="`{rule: reason}` for lint rules the recipe cannot follow (docs/lint.md): "
                                          "the findings are still shown, marked, and do not fail the lint tier")

    @field_validator("HEALTH_PATH")
    @classmethod
    def _health_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"{value!r} is not a path; it must start with /")
        return value

    @field_validator("SKIP_WITNESSES")
    @classmethod
    def _skip_witnesses(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("needs the reason the app cannot have the witness files")
        return value

    @field_validator("LINT_OPT_OUT")
    @classmethod
    def _lint_opt_out(cls, value: dict[str, str]) -> dict[str, str]:
        for rule, reason in value.items():
            if not reason.strip():
                raise ValueError(f"{rule!r} needs a reason (why the recipe cannot follow the rule)")
        return value

    @field_validator("DEPS")
    @classmethod
    def _deps(cls, value: list[str], info: ValidationInfo) -> list[str]:
        known = (info.context or {}).get("recipes")
        names = []
        for text in value:
            name, version = parse_dep(text)
            if known is not None and name not in known:
                close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]}?)" if close else f"; enrolled recipes are {', '.join(known)}"
                raise ValueError(f"{name!r} is not an enrolled recipe{hint}")
            if name in names:
                raise ValueError(f"{name!r} is named twice")
            names.append(name)
        return value

    @field_validator("DEPS_ENV")
    @classmethod
    def _deps_env(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        deps = [parse_dep(text)[0] for text in info.data.get("DEPS", ())]
        for key, template in value.items():
            for name, _field in dep_placeholders(template):
                if name not in deps:
                    close = difflib.get_close_matches(name, deps, n=1, cutoff=0.6)
                    hint = f"did you mean {close[0]}?" if close else \
                        (f"DEPS names {', '.join(deps)}" if deps else "DEPS names none")
                    raise ValueError(f"{key}: {{{name}.…}} names no dependency of DEPS ({hint})")
        return value

    @field_validator("SKIP_GENERIC")
    @classmethod
    def _skip_generic(cls, value: bool | frozenset[str], info: ValidationInfo) -> bool | frozenset[str]:
        lifecycle = _lifecycle(info)
        if lifecycle is None:  # read back from meta.json: validated when the run loaded it
            return value
        unknown = sorted(set(value) - set(lifecycle.names)) if not isinstance(value, bool) else []
        if unknown:
            raise ValueError(f"names unknown op {unknown[0]!r}; choose from {', '.join(lifecycle.names)}")
        return value

    @field_validator("EXPECTED_NA")
    @classmethod
    def _expected_na(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        lifecycle = _lifecycle(info)
        if lifecycle is None:
            return value
        for stage, reason in value.items():
            if stage not in lifecycle.may_be_na:
                raise ValueError(f"{stage!r} is not a stage that can be n/a; choose from {', '.join(lifecycle.may_be_na)}")
            if not reason.strip():
                raise ValueError(f"{stage!r} needs a reason")
        for spec in lifecycle:  # an op that needs an n/a op is n/a too (nothing to restore without a backup)
            need = next((n for n in spec.needs if n in value), None)
            if need is not None and spec.name not in value and spec.can_be_na:
                value = {**value, spec.name: value[need]}
        return value

    def generic_skipped(self, ops: tuple[str, ...]) -> frozenset[str]:
        """The ops (of `ops`, the lifecycle's names) whose generic floor the recipe opted out of."""
        if self.SKIP_GENERIC is True:
            return frozenset(ops)
        return self.SKIP_GENERIC or frozenset()

    def effective(self) -> dict[str, Any]:
        """Every setting as JSON (results.json, the `meta` fixture): callables by name."""
        return {name: _jsonable(getattr(self, name)) for name in type(self).model_fields}

    @classmethod
    def from_effective(cls, data: dict[str, Any]) -> RecipeMeta:
        """The model as `effective()` wrote it; a callable is a stand-in that says where it runs."""
        values = dict(data)
        for name, field in cls.model_fields.items():
            if _is_callable_type(field.annotation) and isinstance(values.get(name), str):
                values[name] = _Elsewhere(name, values[name])
        return cls.model_validate(values)


_DEP = re.compile(r"^([a-z0-9][a-z0-9-]{0,62})(?::([A-Za-z0-9][A-Za-z0-9._+-]{0,99}))?$")
_PLACEHOLDER = re.compile(r"\{([a-z0-9][a-z0-9-]*)\.([A-Za-z0-9_]+)\}")


def parse_dep(text: str) -> tuple[str, str | None]:
    """`"sso-tiny"` or `"sso-tiny:1.0.0+0.1"`: the recipe's name and the release it is deployed at
    (None: the head of its default branch)."""
    found = _DEP.match(text)
    if found is None:
        raise ValueError(f"{text!r} is not a recipe name, optionally with :<version> (e.g. sso-tiny:1.0.0+0.1)")
    return found.group(1), found.group(2)


def dep_placeholders(template: str) -> list[tuple[str, str]]:
    """The `{<dependency>.<key>}` a DEPS_ENV value names, in order."""
    return [(m.group(1), m.group(2)) for m in _PLACEHOLDER.finditer(template)]


def fill_dep_env(deps_env: dict[str, str], provided: dict[str, dict[str, str]]) -> tuple[dict[str, str], list[str]]:
    """DEPS_ENV with each placeholder replaced by what the dependency's `provision` returned, and
    why each key that could not be filled was left out (its dependency was not provided).
    A key `provision` did not return is bad input, with what it did return."""
    filled: dict[str, str] = {}
    missing: list[str] = []
    for key, template in deps_env.items():
        wanted = dep_placeholders(template)
        absent = sorted({name for name, _ in wanted if name not in provided})
        if absent:
            missing.append(f"{key}: {', '.join(absent)} not provided")
            continue
        for name, field in wanted:
            if field not in provided[name]:
                keys = sorted(provided[name])
                close = difflib.get_close_matches(field, keys, n=1, cutoff=0.6)
                hint = f"did you mean {close[0]}?" if close else f"it returned {', '.join(keys) or 'nothing'}"
                raise BadInput(f"recipe_meta.py: DEPS_ENV: {key}: {name}'s provision returned no {field!r} ({hint})")
        filled[key] = _PLACEHOLDER.sub(lambda m: provided[m.group(1)][m.group(2)], template)
    return filled, missing


def _lifecycle(info: ValidationInfo) -> Lifecycle | None:
    found = (info.context or {}).get("lifecycle")
    return found if isinstance(found, Lifecycle) else None


class _Elsewhere:
    """A callable setting seen from an assertion file: it runs in the orchestrator only."""

    def __init__(self, setting: str, name: str) -> None:
        self.setting, self.__name__ = setting, name

    def __call__(self, *args: object) -> bool:
        raise RuntimeError(f"{self.setting} ({self.__name__}) runs in the orchestrator, not in assertion files")


def _jsonable(value: Any) -> Any:
    if callable(value):
        return getattr(value, "__qualname__", None) or getattr(value, "__name__", repr(value))
    if isinstance(value, frozenset):
        return sorted(value)
    return value


def _is_callable_type(annotation: Any) -> bool:
    return "Callable" in str(annotation)


def load_meta(recipe_dir: Path, lifecycle: Lifecycle, shown: str | Shown | None = None,
              recipes: list[str] | None = None) -> RecipeMeta:
    """`<recipe_dir>/recipe_meta.py`'s settings, or the defaults when it has none; op names are
    checked against `lifecycle`, DEPS against `recipes` (the enrolled names; None: not checked).
    `shown` is how errors name the file (e.g. `cc-ci/recipe_meta.py` for a repo-local one)."""
    path = recipe_dir / "recipe_meta.py"
    if not path.is_file():
        return RecipeMeta.model_validate({}, context={"lifecycle": lifecycle})
    named = in_folder(path, shown or path.name)
    module = load_module(path, f"ccci_recipe_meta_{recipe_dir.name.replace('-', '_')}", named)
    name = named(path) or path.name
    try:
        return validate_meta(vars(module), lifecycle, name, recipes)
    except BadInput as err:  # told at the line that sets it
        setting = re.match(rf"^{re.escape(name)}: (?:unknown setting '(\w+)'|(\w+): )", str(err))
        found = setting and re.search(rf"^{setting.group(1) or setting.group(2)}\s*[:=]", path.read_text(), re.MULTILINE)
        if not found:
            raise
        line = path.read_text().count("\n", 0, found.start()) + 1
        raise BadInput(f"{name}:{line}:{str(err).removeprefix(name + ':')}") from None


def validate_meta(namespace: dict[str, Any], lifecycle: Lifecycle, shown: str = "recipe_meta.py",
                  recipes: list[str] | None = None) -> RecipeMeta:
    """The settings among a module's names: ALL-CAPS ones; `_private` and lower-case are helpers."""
    values = {name: value for name, value in namespace.items() if _is_setting(name)}
    known = list(RecipeMeta.model_fields)
    for name in values:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else f"; settings are {', '.join(known)}"
            raise BadInput(f"{shown}: unknown setting {name!r}{hint}")
    try:
        return RecipeMeta.model_validate(values, context={"lifecycle": lifecycle, "recipes": recipes})
    except ValidationError as err:
        first = err.errors()[0]
        name = str(first["loc"][0])
        value = values.get(name)
        expected = type_text(RecipeMeta.model_fields[name].annotation)
        message = first["msg"].removeprefix("Value error, ")
        raise BadInput(f"{shown}: {name}: {message}; expected {expected}, "
                       f"got {type(value).__name__} {_short_repr(value)}") from None


def _is_setting(name: str) -> bool:
    return not name.startswith("_") and name.isupper()


def _short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def type_text(annotation: Any) -> str:
    """A field's type as the docs and errors show it: `int | None`, `dict[str, str]`, `Callable[[ctx], bool]`."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "None"
    if origin is typing.Annotated:
        return type_text(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_text(arg) for arg in args)
    if origin is collections.abc.Callable:
        return f"Callable[[ctx], {type_text(args[-1])}]"
    if origin is not None:
        return f"{origin.__name__}[{', '.join(type_text(arg) for arg in args)}]"
    return getattr(annotation, "__name__", str(annotation))


def _default_text(name: str) -> str:
    field = RecipeMeta.model_fields[name]
    default = field.get_default(call_default_factory=True)
    return f"`{default!r}`"


def settings_table() -> str:
    """The docs' settings table, generated from `RecipeMeta`."""
    rows = ["| name | type | default | meaning |", "|---|---|---|---|"]
    for name, field in RecipeMeta.model_fields.items():
        shown = type_text(field.annotation).replace("|", "\\|")  # a bare | would end the cell
        rows.append(f"| `{name}` | `{shown}` | {_default_text(name)} | {field.description} |")
    return "\n".join(rows) + "\n"


TABLE_BEGIN = "<!-- settings table: generated by `python -m runner.maintainer.meta --update`; do not edit -->\n"
TABLE_END = "<!-- end of settings table -->\n"


def with_settings_table(doc: str) -> str:
    """`doc` with the text between the table markers replaced by the generated table."""
    start, end = doc.index(TABLE_BEGIN) + len(TABLE_BEGIN), doc.index(TABLE_END)
    return doc[:start] + settings_table() + doc[end:]


DOCS_WITH_TABLE = ("docs/overlays.md", "docs/enroll-recipe.md")


def main(argv: list[str]) -> int:
    if argv[1:] == ["--update"]:
        from runner.plumbing.paths import REPO_ROOT

        for name in DOCS_WITH_TABLE:
            path = REPO_ROOT / name
            path.write_text(with_settings_table(path.read_text()))
        return 0
    sys.stdout.write(settings_table())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
