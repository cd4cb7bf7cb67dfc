"""backup-bot-two's labels, read into a plan of what to back up and which hooks to run. Pure.

The backup spec (docs.coopcloud.tech, "backupbot"): `backupbot.backup=true` on any service opts
the whole stack in; then every volume of the stack is taken, whichever service mounts it, unless
`backupbot.backup.volumes.<vol>=false`; `backupbot.backup.volumes.<vol>.path=a,b` limits a volume
to paths relative to its root. Hooks (`backupbot.{backup,restore}.{pre,post}-hook`) may sit on any
service and run in that service's running container. The legacy `backupbot.backup.path` names
paths inside the labelled service's container; each is read as a path limit on the volume that
service mounts there.
"""

from __future__ import annotations

import difflib
import posixpath
from dataclasses import dataclass, field
from typing import Any

from runner.recipe.compose import Texts, deploy_labels, load_chain

OPT_IN = "backupbot.backup"
LEGACY_PATH = "backupbot.backup.path"
VOLUME_PREFIX = "backupbot.backup.volumes."
HOOK_LABELS = {
    ("backup", "pre"): "backupbot.backup.pre-hook",
    ("backup", "post"): "backupbot.backup.post-hook",
    ("restore", "pre"): "backupbot.restore.pre-hook",
    ("restore", "post"): "backupbot.restore.post-hook",
}

Labels = dict[str, dict[str, str]]  # service -> its deploy labels


class LabelError(ValueError):
    """The recipe's backupbot labels cannot be followed; the message says which label and why."""


class NoSnapshot(Exception):
    """The backup took no snapshot because of the recipe (its labels leave nothing to take, or
    cannot be followed): a finding about the recipe, reported by the backup floor, not an
    infrastructure error. `notes` are what the labels' reading found on the way."""

    def __init__(self, reason: str, notes: list[str] | None = None) -> None:
        super().__init__(reason)
        self.reason, self.notes = reason, list(notes or [])


@dataclass(frozen=True)
class Mount:
    target: str  # where the service's container sees it
    volume: str | None  # the stack volume's name in the recipe (`content`); None for binds and tmpfs


@dataclass(frozen=True)
class Hook:
    service: str
    label: str
    command: str


@dataclass(frozen=True)
class StackView:
    """What the plan is made from: the stack's services' labels and mounts, and its volumes."""

    labels: Labels
    mounts: dict[str, list[Mount]]
    volumes: list[str]  # every volume of the stack, by its name in the recipe


@dataclass(frozen=True)
class BackupPlan:
    volumes: dict[str, list[str]]  # volume -> paths relative to its root ([] = the whole volume)
    excluded: list[str]
    hooks: dict[tuple[str, str], list[Hook]] = field(default_factory=dict)  # (op, "pre"|"post")
    notes: list[str] = field(default_factory=list)  # warnings about labels: unknown, misspelt, ignored

    def hooks_for(self, op: str, when: str) -> list[Hook]:
        return self.hooks.get((op, when), [])

    def nothing_to_take(self, stack_volumes: list[str]) -> str | None:
        """Why the plan takes nothing at all, in terms of the recipe; None when it takes a volume."""
        if self.volumes:
            return None
        if not stack_volumes:
            return (f"{OPT_IN}=true is set, but no service of the stack mounts a volume: there is nothing "
                    "to back up (backup-bot-two would back up none of the app's files either)")
        return (f"{OPT_IN}=true is set, but the labels exclude every volume of the stack "
                f"({', '.join(self.excluded)}): there is nothing to back up (backup-bot-two would back up "
                "none of the app's files either)")


@dataclass(frozen=True)
class VolumeLabels:
    """What the `backupbot.backup.volumes.*` labels of every service say about the stack's volumes."""

    excluded: set[str]  # `<vol>=false`
    limits: dict[str, list[str]]  # `<vol>.path`, normalised, for volumes of the stack not excluded
    notes: list[str]  # labels ignored, and why


def opted_in(labels: Labels) -> list[str]:
    """The services carrying `backupbot.backup=true`."""
    return sorted(s for s, ls in labels.items() if ls.get(OPT_IN, "").strip().lower() == "true")


def unsupported_reason(labels: Labels) -> str | None:
    if opted_in(labels):
        return None
    return f"no service has the deploy label {OPT_IN}=true (backup-bot-two would not back this app up)"


def plan(view: StackView) -> BackupPlan:
    """What backup-bot-two would take of the stack, and its hooks. Raises LabelError."""
    reason = unsupported_reason(view.labels)
    if reason:
        raise LabelError(reason)
    read = read_volume_labels(view.labels, view.volumes)
    limits = {volume: list(paths) for volume, paths in read.limits.items()}
    for volume, paths in _legacy_limits(view).items():
        limits[volume] = limits.get(volume, []) + paths
    volumes = {v: _minimal(limits[v]) if v in limits else [] for v in sorted(view.volumes) if v not in read.excluded}
    hooks = {key: [Hook(s, label, view.labels[s][label]) for s in sorted(view.labels)
                   if view.labels[s].get(label, "").strip()]
             for key, label in HOOK_LABELS.items()}
    return BackupPlan(volumes=volumes, excluded=sorted(read.excluded), hooks=hooks,
                      notes=label_warnings(view.labels, view.volumes) + read.notes)


def read_volume_labels(labels: Labels, volumes: list[str]) -> VolumeLabels:
    """`backupbot.backup.volumes.*` of every service, as the backup op follows them: a label
    naming no volume of the stack is ignored (`label_warnings` says so), and an excluded
    volume's path label too, since the volume is not taken at all. Raises LabelError for a
    path that leaves its volume."""
    excluded: set[str] = set()
    limits: dict[str, list[str]] = {}
    for key, volume, value in _volume_label_items(labels):
        if volume not in volumes:
            continue
        if not key.endswith(".path"):
            if value.strip().lower() == "false":
                excluded.add(volume)
            continue
        paths = [p for p in value.split(",") if p.strip()]
        limits[volume] = limits.get(volume, []) + [_relative(p, key) for p in paths]
    notes = [f"{VOLUME_PREFIX}{v}.path: {v} is excluded ({VOLUME_PREFIX}{v}=false), so its path label "
             "is ignored" for v in sorted(set(limits) & excluded)]
    return VolumeLabels(excluded=excluded, limits={v: _minimal(p) for v, p in sorted(limits.items())
                                                   if v not in excluded}, notes=notes)


def _volume_label_items(labels: Labels) -> list[tuple[str, str, str]]:
    """(key, volume named, value) of every `backupbot.backup.volumes.*` label of every service."""
    return [(key, key.removeprefix(VOLUME_PREFIX).removesuffix(".path"), value)
            for service in sorted(labels) for key, value in sorted(labels[service].items())
            if key.startswith(VOLUME_PREFIX)]


def label_warnings(labels: Labels, volumes: list[str]) -> list[str]:
    """A warning, with a did-you-mean, for every `backupbot.*` key that backup-bot-two would not
    act on: a misspelt key (`backupbot.backup.pre-hok`) or a volume label naming no volume of
    the stack. backup-bot-two ignores such keys without a word; the dump a misspelt hook should
    have made would then be missing from every backup."""
    known = [OPT_IN, LEGACY_PATH, *HOOK_LABELS.values(),
             *(f"{VOLUME_PREFIX}{v}{suffix}" for v in sorted(volumes) for suffix in ("", ".path"))]
    warnings = []
    for service in sorted(labels):
        for key in sorted(k for k in labels[service] if k.startswith("backupbot.") and k not in known):
            why = (f"the stack has no volume {key.removeprefix(VOLUME_PREFIX).removesuffix('.path')!r}"
                   if key.startswith(VOLUME_PREFIX) else "not a backupbot label")
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            warnings.append(f"warning: {key} on {service}: {why}; backup-bot-two ignores it{hint}")
    return warnings


def _legacy_limits(view: StackView) -> dict[str, list[str]]:
    """`backupbot.backup.path` (container paths) as path limits on the volumes mounted there."""
    limits: dict[str, list[str]] = {}
    for service in opted_in(view.labels):
        raw = view.labels[service].get(LEGACY_PATH, "")
        for path in (p.strip() for p in raw.split(",") if p.strip()):
            volume, relative = _on_volume(path, view.mounts.get(service, []), service)
            limits.setdefault(volume, []).append(relative)
    return limits


def _on_volume(path: str, mounts: list[Mount], service: str) -> tuple[str, str]:
    """The volume under a container path, and the path relative to the volume's root."""
    clean = posixpath.normpath("/" + path.lstrip("/"))
    inside = [m for m in mounts if clean == m.target or clean.startswith(m.target.rstrip("/") + "/")]
    if not inside:
        raise LabelError(f"{LEGACY_PATH}={path} on {service}: no mount of {service} holds that path; "
                         "name a path inside one of its volumes")
    mount = max(inside, key=lambda m: len(m.target))  # the innermost mount wins, as in the container
    if mount.volume is None:
        raise LabelError(f"{LEGACY_PATH}={path} on {service}: {mount.target} is a bind mount or tmpfs, "
                         "not a volume of the stack; backup-bot-two backs up volumes only")
    return mount.volume, posixpath.relpath(clean, mount.target) if clean != mount.target else ""


def _relative(path: str, label: str) -> str:
    """A path relative to a volume's root, normalised; '' is the root itself."""
    clean = posixpath.normpath(path.strip().strip("/") or ".")
    if clean == ".." or clean.startswith("../"):
        raise LabelError(f"{label}: {path.strip()!r} leaves the volume; paths are relative to the volume root")
    return "" if clean == "." else clean


def _minimal(paths: list[str]) -> list[str]:
    """Sorted, deduplicated, without paths inside others; [] when the root itself is taken."""
    if "" in paths:
        return []
    kept: list[str] = []
    for path in sorted(set(paths)):
        if not any(path.startswith(k + "/") for k in kept):
            kept.append(path)
    return kept


# -- compose files (what a recipe declares, before anything is deployed) ----------------------

def from_compose(texts: Texts) -> StackView:
    """The stack a COMPOSE_FILE chain would deploy: later files override earlier ones, as
    `docker stack deploy -c a -c b` merges them (labels by key, volumes by target). Read by the
    bounded loader (RecipeFileError); a volume entry the labels cannot be read against (no
    target, a number) is LabelError."""
    labels: Labels = {}
    mounts: dict[str, dict[str, Mount]] = {}
    volumes: dict[str, None] = {}
    for data in load_chain(texts):
        volumes |= dict.fromkeys(str(v) for v in _mapping(data.get("volumes")))
        for name, service in _mapping(data.get("services")).items():
            service = service if isinstance(service, dict) else {}
            labels[str(name)] = labels.get(str(name), {}) | deploy_labels(service)
            given = service.get("volumes")
            declared = {m.target: m for m in map(_mount, given if isinstance(given, list) else [])}
            mounts[str(name)] = mounts.get(str(name), {}) | declared
    named = set(volumes)
    return StackView(labels=labels,
                     mounts={s: [m if m.volume in named else Mount(m.target, None) for m in ms.values()]
                             for s, ms in mounts.items()},
                     volumes=list(volumes))


def _mapping(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _mount(entry: Any) -> Mount:
    """A compose service volume, short (`content:/srv/www:ro`) or long (`{source, target}`) form."""
    if isinstance(entry, dict):
        kind = entry.get("type", "volume")
        if not isinstance(entry.get("target"), str) or (kind == "volume" and not isinstance(entry.get("source"), str)):
            raise LabelError(f"volume entry {entry!r:.80}: the long form needs a target (and a source, for a volume)")
        return Mount(entry["target"].rstrip("/") or "/", entry["source"] if kind == "volume" else None)
    if not isinstance(entry, str):
        raise LabelError(f"volume entry {entry!r:.80}: not a source:target string nor a mapping")
    source, _, rest = entry.partition(":")
    if not rest:  # an anonymous volume: `- /data`
        return Mount(source.rstrip("/") or "/", None)
    target = rest.split(":")[0]
    is_named = not source.startswith((".", "/", "~", "$"))
    return Mount(target.rstrip("/") or "/", source if is_named else None)
