"""What in a maintainer's overlay folder nothing will read: a misnamed test file or folder is
otherwise ignored without a word, and a run that checked less than its maintainer wrote goes
green. Pure: fed the folder's entries and the ops' declarations (`Lifecycle`).

An overlay folder (`tests/<recipe>/`, `CCCI_OVERLAY_DIR`, a recipe repo's `cc-ci/`) holds
`test_<op>.py` for install, upgrade, backup and restore, `custom/test_*.py`, `ops.py`,
`recipe_meta.py`, `install_steps.sh`, `conftest.py`, and the maintainer's own helpers, named with
a leading underscore (`_notes.py`). Everything else is named, with a did-you-mean.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from runner.run.lifecycle import Lifecycle

_READ = {"ops.py", "recipe_meta.py", "install_steps.sh", "conftest.py", "README.md"}


@dataclass(frozen=True)
class Stray:
    entry: str  # as fed, e.g. `test_instal.py`, or `custm/` for a whole folder
    line: str  # what to tell the maintainer about it
    op: str | None = None  # the tier it was probably meant for


def stray(entries: Iterable[str], lifecycle: Lifecycle) -> list[Stray]:
    """Each entry (a path relative to the folder, `/`-separated) that no tier collects and
    nothing reads, with what was probably meant; a stray folder once, however many files it holds.
    What the tiers collect is what the ops declare (`Lifecycle.overlay_names`, `overlay_dirs`)."""
    known, folders = set(lifecycle.overlay_names), lifecycle.overlay_dirs
    found: dict[str, Stray] = {}
    for entry in sorted(entries):
        top, _, rest = entry.partition("/")
        if _skipped(top) or (rest and _skipped(rest.rpartition("/")[2])):
            continue
        if not rest:
            if top not in _READ | known:
                found.setdefault(top, _stray(top, sorted(_READ | known), lifecycle))
        elif top in folders:
            name = rest.rpartition("/")[2]
            if "/" not in rest and lifecycle.op_of(entry) is None \
                    and name not in ("conftest.py", "README.md") and name.endswith(".py"):
                found[entry] = Stray(entry, f"{entry}: not collected ({folders[top]} tests are named "
                                            f"{' or '.join(lifecycle.overlay_globs_in(top))})", folders[top])
        else:
            found.setdefault(f"{top}/", _stray(f"{top}/", [f"{folder}/" for folder in folders], lifecycle))
    return list(found.values())


def stray_entries(entries: Iterable[str], lifecycle: Lifecycle) -> list[str]:
    """The lines of `stray(entries, lifecycle)`."""
    return [s.line for s in stray(entries, lifecycle)]


def folder_entries(folder: Path) -> list[str]:
    """Every file of the folder, relative and `/`-separated (what `stray_entries` is fed)."""
    return [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []


def _skipped(name: str) -> bool:
    """The maintainer's helpers (`_x.py`), hidden files and Python's caches."""
    return name.startswith(("_", ".")) or name.endswith(".pyc")


def _stray(name: str, known: list[str], lifecycle: Lifecycle) -> Stray:
    for folder, op in lifecycle.overlay_dirs.items():  # `test_custom.py` for an op that reads a folder
        if name == f"test_{op}.py":
            return Stray(name, f"{name}: no tier collects it (the {op} tier's tests go in "
                               f"{' or '.join(lifecycle.overlay_globs_in(folder))})", op)
    near = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    hint = f" (did you mean {near[0]}?)" if near else \
        " (helpers of your own: name them with a leading underscore, e.g. _helpers.py)" if name.endswith(".py") else ""
    return Stray(name, f"{name}: no tier collects it and nothing reads it{hint}",
                 _op_meant(near[0], lifecycle) if near else None)


def _op_meant(name: str, lifecycle: Lifecycle) -> str | None:
    """The tier a known name feeds: `test_install.py` -> install, `custom/` -> custom."""
    if name.endswith("/"):
        return lifecycle.overlay_dirs.get(name.removesuffix("/"))
    return lifecycle.op_of(name)
