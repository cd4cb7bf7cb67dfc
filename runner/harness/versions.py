"""Recipe release versions: `<recipe semver>+<upstream version>`, e.g. `1.10.0+1.28.0`."""

from __future__ import annotations

import re
from dataclasses import dataclass

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
