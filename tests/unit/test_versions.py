"""Release ordering: recipe semver first, upstream part ignored for order."""

from __future__ import annotations

from runner.recipe.versions import (
    latest_release,
    parse_version,
    previous_release,
    release_versions,
)


def test_recipe_semver_orders_numerically_not_lexically() -> None:
    tags = ["1.9.0+2.0", "1.10.0+1.28.0", "1.2.0+3.0"]
    assert [v.tag for v in release_versions(tags)] == ["1.2.0+3.0", "1.9.0+2.0", "1.10.0+1.28.0"]
    assert latest_release(tags) == "1.10.0+1.28.0"


def test_upstream_part_does_not_decide_order() -> None:
    assert latest_release(["2.0.0+1.0", "1.0.0+9.9"]) == "2.0.0+1.0"


def test_prereleases_sort_before_their_release_numeric_parts_numerically() -> None:
    assert [v.tag for v in release_versions(["1.0.0+1", "1.0.0-rc.2+1", "1.0.0-rc.10+1", "1.0.0-beta+1"])] == [
        "1.0.0-beta+1", "1.0.0-rc.2+1", "1.0.0-rc.10+1", "1.0.0+1"]


def test_non_release_tags_are_ignored() -> None:
    assert release_versions(["latest", "v-old", "nightly"]) == []
    assert latest_release(["latest", "0.1.0+x"]) == "0.1.0+x"


def test_previous_release_is_the_newest_strictly_older() -> None:
    tags = ["1.0.0+1.0", "1.1.0+1.1", "1.10.0+1.28.0", "1.9.0+2.0"]
    assert previous_release(tags, "1.10.0+1.28.0") == "1.9.0+2.0"
    assert previous_release(tags, "1.0.0+1.0") is None
    assert previous_release(tags, None) == "1.10.0+1.28.0"  # a chaos head upgrades from the newest


def test_parse_keeps_the_parts() -> None:
    version = parse_version("1.10.0+1.28.0")
    assert version is not None
    assert (version.major, version.minor, version.patch, version.upstream) == (1, 10, 0, "1.28.0")
