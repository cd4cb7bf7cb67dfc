"""The allowlist of repo-local code: entries, comments, malformed lines, a missing file."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.errors import BadInput
from runner.maintainer.allowlist import load_allowlist, parse_allowlist
from runner.plumbing.paths import ALLOWLIST_FILE

TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
OTHER = "1" * 40


def test_a_name_approves_any_tree_and_a_name_at_tree_only_that_tree() -> None:
    allowlist = parse_allowlist(f"mastodon\ngitea@{TREE}\n", "list.txt")
    assert allowlist.approval("mastodon", OTHER) == "by name"
    assert allowlist.approval("gitea", TREE) == "by tree id"
    assert allowlist.approval("gitea", OTHER) is None  # a PR that changed cc-ci/: a new tree
    assert allowlist.approval("nextcloud", TREE) is None


def test_comments_and_blank_lines_are_ignored_and_an_empty_list_denies_all() -> None:
    allowlist = parse_allowlist(f"# approved after review\n\n   \ngitea@{TREE}  # PR 12\n#mastodon\n", "l")
    assert allowlist.approval("gitea", TREE) == "by tree id"
    assert allowlist.approval("mastodon", TREE) is None
    assert parse_allowlist("", "l").approval("gitea", TREE) is None
    assert parse_allowlist("# nothing yet\n", "l").approval("gitea", TREE) is None


def test_sha256_tree_ids_are_accepted() -> None:
    assert parse_allowlist(f"gitea@{'a' * 64}\n", "l").approval("gitea", "a" * 64) == "by tree id"


@pytest.mark.parametrize(("line", "lineno"), [
    ("Gitea", 2), ("gitea@", 2), ("gitea@abc123", 2), (f"gitea@{TREE[:-1]}", 2), (f"gitea @{TREE}", 2),
    ("gitea mastodon", 2), (f"gitea@{TREE.upper()}", 2), ("../gitea", 2), ("*", 2),
])
def test_a_malformed_line_is_bad_input_naming_the_file_and_line(line: str, lineno: int) -> None:
    with pytest.raises(BadInput, match=rf"^/etc/approved.txt:{lineno}: .* is not `<recipe>` or `<recipe>@<tree id>`"):
        parse_allowlist(f"# header\n{line}\nmastodon\n", "/etc/approved.txt")


def test_a_missing_allowlist_is_bad_input_never_allow_all(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="CCCI_APPROVED_FILE: .*nope.txt' does not exist"):
        load_allowlist(tmp_path / "nope.txt")


def test_the_shipped_allowlist_parses_and_approves_nothing() -> None:
    allowlist = load_allowlist(ALLOWLIST_FILE)
    assert not allowlist.any_commit and not allowlist.trees
