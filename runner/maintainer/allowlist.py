"""The allowlist of repo-local code: `tests/repo-local-approved.txt` (or `CCCI_APPROVED_FILE`).

One entry a line: `<recipe>` approves that recipe's `cc-ci/` folder at any commit,
`<recipe>@<tree id>` exactly that content (the git tree id of `cc-ci/` at the tested ref).
`#` starts a comment; blank lines are fine; anything else is bad input. Empty = deny all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from runner.errors import BadInput
from runner.recipe.repos import RECIPE_NAME

_TREE_ID = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")  # sha1 or sha256 repos


@dataclass(frozen=True)
class Allowlist:
    source: str
    any_commit: frozenset[str] = frozenset()  # recipes approved by name
    trees: dict[str, frozenset[str]] = field(default_factory=dict)  # recipe -> approved tree ids

    def approval(self, recipe: str, tree: str) -> str | None:
        """How `recipe`'s `cc-ci/` at `tree` is approved ("by name", "by tree id"), else None."""
        if recipe in self.any_commit:
            return "by name"
        if tree in self.trees.get(recipe, frozenset()):
            return "by tree id"
        return None


def parse_allowlist(text: str, source: str) -> Allowlist:
    """The entries of an allowlist file; a malformed line is BadInput naming the file and line."""
    names: set[str] = set()
    trees: dict[str, set[str]] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        name, at, tree = entry.partition("@")
        if not RECIPE_NAME.match(name) or (at and not _TREE_ID.match(tree)):
            raise BadInput(f"{source}:{lineno}: {entry[:80]!r} is not `<recipe>` or `<recipe>@<tree id>` "
                           "(recipe: [a-z0-9-]; tree id: 40 hex digits, `git rev-parse <ref>:cc-ci`)")
        if at:
            trees.setdefault(name, set()).add(tree)
        else:
            names.add(name)
    return Allowlist(source, frozenset(names), {name: frozenset(ids) for name, ids in trees.items()})


def load_allowlist(path: Path) -> Allowlist:
    if not path.is_file():  # never "allow all": a missing list is a mistake to report
        raise BadInput(f"CCCI_APPROVED_FILE: {str(path)!r} does not exist (the allowlist of repo-local code)")
    return parse_allowlist(path.read_text(), str(path))
