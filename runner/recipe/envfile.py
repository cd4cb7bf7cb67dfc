"""Parse recipe `.env` files and `abra.sh` exports the way abra reads them, without a shell.

Recipe files are untrusted: nothing here executes them. Values are expanded only from variables
defined earlier in the same file and from an explicit `base` mapping, never from os.environ.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath

from runner.errors import BadInput
from runner.recipe.bounded import ENV_MAX_BYTES, OverLimit

_KEY = r"[A-Za-z_][A-Za-z0-9_]*"
_ASSIGN = re.compile(rf"^\s*(?:export\s+)?(?P<key>{_KEY})\s*=\s*(?P<rest>.*)$")
_EXPANSION = re.compile(rf"\$(?:\{{(?P<braced>{_KEY})(?::-(?P<default>[^}}]*))?\}}|(?P<bare>{_KEY}))")
_MODIFIER = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)=(\S+)")
_DOUBLE_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "$": "$"}
_ESCAPED_DOLLAR = "\x00"  # placeholder so that `\$` survives expansion as a literal dollar
_SECRET_KEY = re.compile(r"^SECRET_(?P<name>[A-Z0-9_]+)_VERSION$")
DEFAULT_SECRET_LENGTH = 32


@dataclass
class EnvFile:
    """Ordered values plus the `# key=value` modifiers found in each line's trailing comment."""

    values: dict[str, str] = field(default_factory=dict)
    modifiers: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class SecretSpec:
    name: str  # lower-case, as in compose `secrets:` (SECRET_ADMIN_PASSWORD_VERSION -> admin_password)
    version: str
    length: int


def parse_env(
    text: str,
    base: dict[str, str] | None = None,
    overrides: dict[str, str] | None = None,
    source: str = ".env",
) -> EnvFile:
    """Parse dotenv text like abra: comments, `export`, quotes, `$VAR`/`${VAR}` expansion.

    `base` is visible to expansions only; `overrides` replace the file's own value of a key
    (e.g. the run-scoped DOMAIN) before later lines expand it. Raises BadInput, naming the
    file and line: a line that is not an assignment, a NUL, an unterminated quote, or (OverLimit)
    values that expand past ENV_MAX_BYTES in all (`B=$A$A`, `C=$B$B`, ... doubles per line).
    """
    env = EnvFile()
    overrides = overrides or {}
    scope = {**(base or {}), **overrides}
    expanded = 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _ASSIGN.match(line)
        if match is None:
            raise BadInput(f"{source}:{lineno}: not a KEY=VALUE line: {stripped[:60]!r}")
        if "\x00" in line:  # no environment can hold one (and it is the parser's escaped-dollar mark)
            raise BadInput(f"{source}:{lineno}: a NUL character; remove it (no environment variable can hold one)")
        key = match["key"]
        value, comment = _split_value(match["rest"], f"{source}:{lineno}")
        found = overrides[key] if key in overrides else _expand(value, scope, ENV_MAX_BYTES - expanded)
        expanded += len(key) + len(found or "")
        if found is None or expanded > ENV_MAX_BYTES:
            raise OverLimit(f"{source}:{lineno}", f"the values up to here come to more than {ENV_MAX_BYTES // 1024} "
                            "KiB (cc-ci's limit for an env, expansions included)", "shorten them")
        env.values[key] = scope[key] = found
        mods = dict(_MODIFIER.findall(comment))
        if mods:
            env.modifiers[key] = mods
    return env


def _split_value(rest: str, where: str) -> tuple[str, str]:
    """Split the right-hand side into (raw value with escapes resolved, trailing comment)."""
    rest = rest.strip()
    if rest[:1] in ("'", '"'):
        quote = rest[0]
        end = _closing_quote(rest, quote)
        if end < 0:
            raise BadInput(f"{where}: unterminated {quote} quote")
        inner, after = rest[1:end], rest[end + 1 :].strip()
        if quote == "'":
            # single quotes are literal: protect dollars from expansion
            inner = inner.replace("$", _ESCAPED_DOLLAR)
        else:
            inner = re.sub(r"\\(.)", lambda m: _double_escape(m.group(1)), inner)
        return inner, after[1:] if after.startswith("#") else ""
    comment_at = re.search(r"\s#", rest)
    if comment_at:
        return rest[: comment_at.start()].rstrip(), rest[comment_at.end() :]
    return rest, ""


def _closing_quote(rest: str, quote: str) -> int:
    i = 1
    while i < len(rest):
        if quote == '"' and rest[i] == "\\":
            i += 2
            continue
        if rest[i] == quote:
            return i
        i += 1
    return -1


def _double_escape(char: str) -> str:
    resolved = _DOUBLE_ESCAPES.get(char, "\\" + char)
    return _ESCAPED_DOLLAR if resolved == "$" else resolved


def _expand(value: str, scope: dict[str, str], budget: int) -> str | None:
    """`value` with its `$VAR`s expanded from `scope`; None once it grows past `budget` characters
    (checked as it grows: one line of `$A$A$A...` must not build gigabytes first)."""
    parts, size, at = [], 0, 0
    for m in _EXPANSION.finditer(value):
        name = m["braced"] or m["bare"]
        found = scope.get(name, "")
        if not found and m["default"] is not None:
            found = m["default"]
        parts += [value[at:m.start()], found]
        size += m.start() - at + len(found)
        at = m.end()
        if size > budget:
            return None
    parts.append(value[at:])
    return "".join(parts).replace(_ESCAPED_DOLLAR, "$")


def compose_files(values: dict[str, str]) -> list[str]:
    """The COMPOSE_FILE chain as a list of recipe-relative paths (default `compose.yml`)."""
    chain = [part for part in values.get("COMPOSE_FILE", "compose.yml").split(":") if part]
    for part in chain:
        path = PurePosixPath(part)
        if path.is_absolute() or ".." in path.parts:
            raise BadInput(f"COMPOSE_FILE entry {part!r} leaves the recipe directory; use paths inside it")
    return chain or ["compose.yml"]


def secret_specs(env: EnvFile) -> list[SecretSpec]:
    """Every `SECRET_<NAME>_VERSION` with its length from a `# length=N` modifier."""
    specs = []
    for key, version in env.values.items():
        match = _SECRET_KEY.match(key)
        if match is None:
            continue
        raw_length = env.modifiers.get(key, {}).get("length", str(DEFAULT_SECRET_LENGTH))
        if not raw_length.isdigit() or not 1 <= int(raw_length) <= 4096:
            raise BadInput(f"{key}: length={raw_length!r} is not a number between 1 and 4096")
        specs.append(SecretSpec(match["name"].lower(), version, int(raw_length)))
    return specs


_ABRA_EXPORT = re.compile(rf"^\s*export\s+(?P<key>{_KEY})=(?P<value>\S*)\s*(?:#.*)?$")


def parse_abra_exports(text: str) -> dict[str, str]:
    """Literal `export NAME=value` lines of abra.sh (abra reads config versions the same way).

    Anything else in the file (functions, commands, computed values) is ignored, never run.
    """
    exports = {}
    for line in text.splitlines():
        match = _ABRA_EXPORT.match(line)
        if match is None:
            continue
        value = match["value"]
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if "$" in value or "`" in value:
            continue  # computed by a shell; not ours to evaluate
        exports[match["key"]] = value
    return exports


def merge_upgrade_env(current: dict[str, str], head_sample: EnvFile, extra: dict[str, str]) -> tuple[
        EnvFile, dict[str, str], dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
    """The app env after an upgrade, as abra operators keep it: existing values stay, keys the
    head's .env.sample adds are added, secret versions follow the head (a bumped version means a
    new secret), and `extra` (UPGRADE_EXTRA_ENV) adds or overrides last.

    Returns (merged env with the head's modifiers, added, changed, kept-over-the-head's-sample).
    """
    merged: dict[str, str] = dict(current)
    added: dict[str, str] = {}
    changed: dict[str, tuple[str, str]] = {}
    kept: dict[str, tuple[str, str]] = {}
    for key, value in head_sample.values.items():
        if key not in current:
            merged[key] = added[key] = value
        elif _SECRET_KEY.match(key) and current[key] != value:
            merged[key] = value
            changed[key] = (current[key], value)
        elif key != "DOMAIN" and current[key] != value:
            kept[key] = (current[key], value)
    for key, value in extra.items():
        if key in current and current[key] != value:
            changed[key] = (current[key], value)
            kept.pop(key, None)
        elif key not in current:
            added[key] = value
        merged[key] = value
    return EnvFile(merged, dict(head_sample.modifiers)), added, changed, kept


def with_values(text: str, values: Mapping[str, str]) -> str:
    """An env file's text with each key's assignment replaced, or appended when it has none
    (EXTRA_ENV). Values are written double-quoted, so they parse back exactly."""
    lines: list[str | None] = list(text.splitlines())
    for key, value in values.items():
        quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'
        at = [i for i, line in enumerate(lines) if line and (m := _ASSIGN.match(line)) and m["key"] == key]
        for i in at[1:]:
            lines[i] = None  # a later assignment would win over ours
        if at:
            lines[at[0]] = f"{key}={quoted}"
        else:
            lines.append(f"{key}={quoted}")
    return "".join(f"{line}\n" for line in lines if line is not None)


def reread_app_env(text: str, previous: list[SecretSpec], source: str) -> tuple[dict[str, str], list[SecretSpec]]:
    """The app env after something edited its file (install_steps.sh, EXTRA_ENV): its values, and
    its secrets; a secret keeps the length it had unless the file now says `# length=N`."""
    env = parse_env(text, source=source)
    known = {spec.name: spec.length for spec in previous}
    specs = []
    for spec in secret_specs(env):
        modifiers = env.modifiers.get(f"SECRET_{spec.name.upper()}_VERSION", {})
        specs.append(replace(spec, length=known[spec.name]) if spec.name in known and "length" not in modifiers else spec)
    return env.values, specs
