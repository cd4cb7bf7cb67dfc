"""What a release adds or changes that an operator must act on before upgrading an app to it: a
new secret or a bumped secret version (generate it first), a new env var (add it to the app's
env), a new volume (it starts empty) or config. Pure: fed the env diff of the upgrade and the
compose chains of both sides. Not a failure: the run performs the upgrade as CI would, and these
notes say what a real operator has to do that the run did for itself."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from runner.recipe.compose import Texts, load_chain
from runner.recipe.envfile import SecretSpec

_SECRET_KEY = re.compile(r"^SECRET_(?P<name>[A-Z0-9_]+)_VERSION$")
_SHOWN_VALUE = 60  # a sample value longer than this is clipped in a note


def upgrade_notes(to: str, added: Mapping[str, str], changed: Mapping[str, tuple[str, str]],
                  specs: list[SecretSpec], before: Texts, after: Texts) -> list[str]:
    """One sentence per thing to act on, in the order an operator would do them: secrets, env,
    volumes, configs. `to` names the side being upgraded to (`the head`, `release 1.2.0+1.2`)."""
    lengths = {spec.name: spec.length for spec in specs}
    notes: list[str] = []
    for key, value in added.items():
        if (match := _SECRET_KEY.match(key)) is not None:
            name = match["name"].lower()
            notes.append(f"{to} adds secret {name} ({value}, length {lengths.get(name, '?')}): generate it before "
                         f"upgrading, e.g. `abra app secret generate <domain> {name} {value}`")
    for key, (old, new) in changed.items():
        if (match := _SECRET_KEY.match(key)) is not None:
            name = match["name"].lower()
            notes.append(f"{to} bumps secret {name} from {old} to {new}: generate the new version before "
                         f"upgrading, e.g. `abra app secret generate <domain> {name} {new}`")
    for key, value in added.items():
        if not _SECRET_KEY.match(key):
            shown = value if len(value) <= _SHOWN_VALUE else value[: _SHOWN_VALUE - 1] + "…"
            notes.append(f"{to} adds env var {key} (its .env.sample: `{key}={shown}`): add it to the app's env "
                         f"before upgrading (`abra app config <domain>`)")
    old_volumes, new_volumes = _top_level(before, "volumes"), _top_level(after, "volumes")
    mounts = _mounts(after)
    for volume in (v for v in new_volumes if v not in old_volumes):
        where = ", ".join(f"{service} at {path}" for service, path in mounts.get(volume, []))
        notes.append(f"{to} adds volume {volume}" + (f" (mounted by {where})" if where else "")
                     + ": it starts empty when the app is upgraded")
    old_configs = _top_level(before, "configs")
    for config in (c for c in _top_level(after, "configs") if c not in old_configs):
        notes.append(f"{to} adds config {config}: abra deploys it from the recipe; check the env it reads, if any")
    return notes


def _top_level(texts: Texts, kind: str) -> list[str]:
    """The names a chain declares under its top-level `volumes:`, `configs:` or `secrets:`."""
    names: dict[str, None] = {}
    for data in load_chain(texts):
        section = data.get(kind)
        if isinstance(section, dict):
            names |= dict.fromkeys(str(name) for name in section)
    return list(names)


def _mounts(texts: Texts) -> dict[str, list[tuple[str, str]]]:
    """volume -> (service, path in the container) for every named-volume mount of the chain."""
    found: dict[str, list[tuple[str, str]]] = {}
    for data in load_chain(texts):
        services = data.get("services")
        for service, spec in (services.items() if isinstance(services, dict) else []):
            for mount in (spec.get("volumes") or []) if isinstance(spec, dict) else []:
                source, target = _mount(mount)
                if source and target and not source.startswith(("/", ".", "~", "$")):
                    found.setdefault(source, []).append((str(service), target))
    return found


def _mount(mount: Any) -> tuple[str | None, str | None]:
    if isinstance(mount, str):
        parts = mount.split(":")
        return (parts[0], parts[1]) if len(parts) >= 2 else (None, None)
    if isinstance(mount, dict):
        return (str(mount["source"]) if mount.get("source") else None,
                str(mount["target"]) if mount.get("target") else None)
    return None, None
