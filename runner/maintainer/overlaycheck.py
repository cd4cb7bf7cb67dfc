"""What in a maintainer's overlay folder nothing will read: a misnamed test file or folder is
otherwise ignored without a word, and a run that checked less than its maintainer wrote goes
green. Pure: fed the folder's entries.

An overlay folder (`tests/<recipe>/`, `CCCI_OVERLAY_DIR`, a recipe repo's `cc-ci/`) holds
`test_<op>.py` for install, upgrade, backup and restore, `custom/test_*.py`, `ops.py`,
`recipe_meta.py`, `install_steps.sh`, `conftest.py`, and the maintainer's own helpers, named with
a leading underscore (`_notes.py`). Everything else is named, with a did-you-mean.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

_READ = {"ops.py", "recipe_meta.py", "install_steps.sh", "conftest.py", "README.md"}
_CUSTOM = "custom"


@dataclass(frozen=True)
class Stray:
    entry: str  # as fed, e.g. `test_instal.py`, or `custm/` for a whole folder
    line: str  # what to tell the maintainer about it
    op: str | None = None  # the tier it was probably meant for


def stray(entries: Iterable[str], tier_files: Collection[str]) -> list[Stray]:
    """Each entry (a path relative to the folder, `/`-separated) that no tier collects and
    nothing reads, with what was probably meant; a stray folder once, however many files it holds.
    `tier_files`: the overlay file names the ops read (`Lifecycle.overlay_names`)."""
    known = set(tier_files)
    found: dict[str, Stray] = {}
    for entry in sorted(entries):
        top, _, rest = entry.partition("/")
        if _skipped(top) or (rest and _skipped(rest.rpartition("/")[2])):
            continue
        if not rest:
            if top not in _READ | known:
                found.setdefault(top, _stray(top, sorted(_READ | known), known))
        elif top == _CUSTOM:
            name = rest.rpartition("/")[2]
            if "/" not in rest and not (name.startswith("test_") and name.endswith(".py")) \
                    and name not in ("conftest.py", "README.md") and name.endswith(".py"):
                found[entry] = Stray(entry, f"{entry}: not collected (custom tests are named custom/test_*.py)",
                                     _CUSTOM)
        else:
            found.setdefault(f"{top}/", _stray(f"{top}/", [f"{_CUSTOM}/"], known))
    return list(found.values())


def stray_entries(entries: Iterable[str], tier_files: Collection[str]) -> list[str]:
    """The lines of `stray(entries, tier_files)`."""
    return [s.line for s in stray(entries, tier_files)]


def folder_entries(folder: Path) -> list[str]:
    """Every file of the folder, relative and `/`-separated (what `stray_entries` is fed)."""
    return [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []


def _skipped(name: str) -> bool:
    """The maintainer's helpers (`_x.py`), hidden files and Python's caches."""
    return name.startswith(("_", ".")) or name.endswith(".pyc")


def _stray(name: str, known: list[str], tier_files: set[str]) -> Stray:
    if name == f"test_{_CUSTOM}.py":
        return Stray(name, f"{name}: no tier collects it (the custom tier's tests go in {_CUSTOM}/test_*.py)", _CUSTOM)
    near = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    hint = f" (did you mean {near[0]}?)" if near else \
        " (helpers of your own: name them with a leading underscore, e.g. _helpers.py)" if name.endswith(".py") else ""
    return Stray(name, f"{name}: no tier collects it and nothing reads it{hint}",
                 _op_meant(near[0], tier_files) if near else None)


def _op_meant(name: str, tier_files: set[str]) -> str | None:
    """The tier a known name feeds: `test_install.py` -> install, `custom/` -> custom."""
    if name == f"{_CUSTOM}/":
        return _CUSTOM
    op = name.removeprefix("test_").removesuffix(".py")
    return op if name in tier_files else None
