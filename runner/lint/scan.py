"""What the newer lint rules read out of a recipe's compose chain: the variables it interpolates
(with the file and line each is written on) and the named volumes each service mounts. Pure."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from runner.recipe.compose import referenced

# `#VAR=…` or `# export VAR=…`: a setting .env.sample documents but leaves unset (an operator's
# option, e.g. `#SMTP_HOST=`): a compose file may use it, interpolated empty until someone sets it
_DOCUMENTED = re.compile(r"^\s*#\s*(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_]*)=", re.MULTILINE)


@dataclass(frozen=True)
class Used:
    """A variable the chain interpolates without a default: where it is written."""

    file: str
    line: int  # 1-based; 0 when the text could not be matched to a line
    name: str
    required: bool  # `${VAR:?…}`/`${VAR?…}`: docker refuses the deploy while it is unset


def documented(env_sample: str | None) -> set[str]:
    """The settings `.env.sample` mentions only in a comment (`#SMTP_HOST=`)."""
    return {m["key"] for m in _DOCUMENTED.finditer(env_sample or "")}


def strings(data: Any) -> Iterator[str]:
    """Every string value of a loaded compose file: what docker interpolates (not the keys)."""
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for value in data.values():
            yield from strings(value)
    elif isinstance(data, list):
        for item in data:
            yield from strings(item)


def used_variables(text: str, data: Any, file: str) -> list[Used]:
    """Each variable a chain file interpolates without a default (`${VAR:-x}` and `${VAR-x}` have
    one), once per line it is written on. Read from the loaded values, as docker interpolates them
    (a `${X}` in a YAML comment is not one), then found in the text for its line."""
    wanted: dict[str, bool] = {}
    for value in strings(data):
        for name, sep in referenced(value):
            if sep in ("", ":?", "?"):
                wanted[name] = wanted.get(name, False) or sep != ""
    found = []
    lines = text.splitlines()
    for name, required in wanted.items():
        # as written without a default: `${N}`, `${N:?…}`, `${N?…}`, `$N` (not `$N-x`: a default, as docker reads it)
        token = re.compile(rf"\$(?:{{{re.escape(name)}(?:}}|:?\?)|{re.escape(name)}(?![A-Za-z0-9_]|:?-))")
        at = [n for n, line in enumerate(lines, 1) if not line.lstrip().startswith("#") and _unescaped(token, line)]
        found += [Used(file, n, name, required) for n in at or [0]]
    return sorted(found, key=lambda u: (u.line, u.name))


def _unescaped(token: re.Pattern[str], line: str) -> bool:
    """`token` occurs in `line` other than after `$$` (an escaped dollar)."""
    return any(not _escaped(line, m.start()) for m in token.finditer(line))


def _escaped(line: str, at: int) -> bool:
    dollars = len(line[:at]) - len(line[:at].rstrip("$"))
    return dollars % 2 == 1


@dataclass(frozen=True)
class Mount:
    service: str
    target: str  # the path in the container
    volume: str  # the compose key of the named volume
    identity: str  # what docker names it, `${STACK_NAME}` left as a placeholder


def named_mounts(services: dict[str, dict[str, Any]], volumes: dict[str, dict[str, Any]],
                 expand: Callable[[str], str]) -> list[Mount]:
    """Each named volume each service mounts (short `vol:/path[:ro]` or long `{type: volume, …}`
    syntax); bind mounts and tmpfs are no volume. `expand` interpolates a value as the deploy would,
    STACK_NAME as one fixed placeholder (two releases deploy under the same stack)."""
    found = []
    for service, spec in services.items():
        entries = spec.get("volumes")
        for entry in entries if isinstance(entries, list) else []:
            source, target = _source_target(entry)
            source, target = expand(source).strip(), expand(target).strip()
            if not source or not target or source.startswith(("/", ".", "~")) or source not in volumes:
                continue
            spec_of = volumes.get(source) or {}
            name = spec_of.get("name") if isinstance(spec_of, dict) else None
            external = isinstance(spec_of, dict) and spec_of.get("external") is True
            # docker's name for it: `name:`, else the key under the stack (an external one: the key)
            identity = expand(str(name)) if name else source if external else f"{expand('${STACK_NAME}')}_{source}"
            found.append(Mount(service, target.rstrip("/") or "/", source, identity))
    return found


def _source_target(entry: object) -> tuple[str, str]:
    if isinstance(entry, str):
        parts = entry.split(":")
        return (parts[0], parts[1]) if len(parts) >= 2 else ("", parts[0])
    if isinstance(entry, dict) and entry.get("type", "volume") == "volume":
        return str(entry.get("source") or ""), str(entry.get("target") or "")
    return "", ""
