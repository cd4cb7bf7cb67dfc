"""Recipe release versions: `<recipe semver>+<upstream version>`, e.g. `1.10.0+1.28.0`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from runner.errors import BadInput

_VERSION = re.compile(
    r"^v?(?P<major>\d+)\.(?P<minor>\d+)\.(?P<patch>\d+)(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+(?P<upstream>.+))?$"
)


@dataclass(frozen=True)
class RecipeVersion:
    tag: str
    major: int
    minor: int
    patch: int
    pre: str | None
    upstream: str | None

    @property
    def sort_key(self) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
        # semver: a pre-release sorts before its release; the upstream part does not order releases
        pre_key = tuple((0, int(p)) if p.isdigit() else (1, p) for p in (self.pre or "").split(".") if p)
        return (self.major, self.minor, self.patch, 0 if self.pre else 1, pre_key)


def parse_version(tag: str) -> RecipeVersion | None:
    match = _VERSION.match(tag)
    if match is None:
        return None
    return RecipeVersion(tag, int(match["major"]), int(match["minor"]), int(match["patch"]),
                         match["pre"], match["upstream"])


def release_versions(tags: list[str]) -> list[RecipeVersion]:
    """The tags that are recipe releases, oldest first; other tags are ignored."""
    parsed = [v for v in map(parse_version, tags) if v is not None]
    return sorted(parsed, key=lambda v: v.sort_key)


def latest_release(tags: list[str]) -> str | None:
    releases = release_versions(tags)
    return releases[-1].tag if releases else None


def previous_release(tags: list[str], head: str | None) -> str | None:
    """The newest release strictly older than `head` (a release tag), or the newest at all."""
    releases = release_versions(tags)
    head_version = parse_version(head) if head else None
    if head_version is None:
        return releases[-1].tag if releases else None
    older = [v for v in releases if v.sort_key < head_version.sort_key]
    return older[-1].tag if older else None


def choose_base(releases_before: list[str], head_releases: list[str], head_version_label: str | None,
                pinned: str | None, all_tags: list[str]) -> tuple[str | None, str]:
    """The release an upgrade starts from, and why (one line).

    `releases_before`: tags on the head's ancestors (not on the head itself); `head_releases`:
    tags on the head. Order: a pin (must be a release tag, else BadInput); else the newest release
    strictly older than the head, stepping back once more when the head's own version label is
    that release (unreleased commits on top of it). None when there is nothing to upgrade from.
    """
    if pinned:
        if pinned not in all_tags or parse_version(pinned) is None:
            releases = ", ".join(v.tag for v in release_versions(all_tags)) or "none"
            raise BadInput(f"recipe_meta.py: UPGRADE_BASE_VERSION {pinned!r} is not a release tag "
                           f"of the recipe (releases: {releases})")
        return pinned, "pinned by UPGRADE_BASE_VERSION in recipe_meta.py"
    candidates = release_versions(releases_before)
    head_versions = release_versions(head_releases)
    if head_versions:  # the head is itself a release: only older releases count
        candidates = [v for v in candidates if v.sort_key < head_versions[0].sort_key]
    if not candidates:
        return None, "no release older than the head to upgrade from"
    newest = candidates[-1]
    if head_version_label == newest.tag:
        if len(candidates) < 2:
            return None, (f"the head is {newest.tag} plus unreleased commits and no older release "
                          "exists to upgrade from")
        return candidates[-2].tag, (f"the head's version label is {newest.tag} (unreleased commits "
                                    f"on top of it): stepped back to {candidates[-2].tag}")
    return newest.tag, f"{newest.tag} is the newest release older than the head"


def upgrade_chain(policy: str, releases_before: list[str], head_releases: list[str], all_tags: list[str],
                  previous: tuple[str | None, str]) -> tuple[list[str], str]:
    """The releases an upgrade passes through, oldest first (the first is installed), and why.

    `policy` is UPGRADE_FROM: `previous` is the one base (`previous`, from `choose_base`); `all`
    every release older than the head; `<n>` the n newest of those; a comma list those releases
    (each must be a release tag of the recipe, else BadInput).
    """
    if policy == "previous":
        base, reason = previous
        return ([base] if base else []), reason
    if policy not in ("all",) and not policy.isdigit():
        listed = policy.split(",")
        unknown = [tag for tag in listed if tag not in all_tags or parse_version(tag) is None]
        if unknown:
            releases = ", ".join(v.tag for v in release_versions(all_tags)) or "none"
            raise BadInput(f"UPGRADE_FROM: {unknown[0]!r} is not a release tag of the recipe (releases: {releases})")
        return [v.tag for v in release_versions(listed)], f"the releases UPGRADE_FROM lists ({policy})"
    older = release_versions(releases_before)
    head_versions = release_versions(head_releases)
    if head_versions:  # the head is itself a release: only older releases count
        older = [v for v in older if v.sort_key < head_versions[0].sort_key]
    chosen = older if policy == "all" else older[-int(policy):]
    if not chosen:
        return [], "no release older than the head to upgrade from"
    what = "every release older than the head" if policy == "all" else f"the {policy} newest release(s) older than the head"
    return [v.tag for v in chosen], f"UPGRADE_FROM={policy}: {what}"
