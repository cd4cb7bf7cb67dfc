"""Repo-local test code: the recipe repo's own `cc-ci/` folder, behind the allowlist.

The gate decides from the git tree id of `cc-ci/` at the tested commit, before anything of it is
read. Approved, exactly that tree is extracted (`git archive <tree id>`) over cc-ci's own files
for the recipe in the run's tier tests folder; denied, nothing of it leaves git's object store,
so no test, conftest.py, ops.py, recipe_meta.py or install_steps.sh of it can be imported,
collected or run. Every tier's pytest sees only that folder (see `runner/tiers/tier.py`).

    <run dir>/tests/               rootdir and confcutdir of every tier's pytest
      pytest.ini  conftest.py      cc-ci's own fixtures
      _generic/test_<op>.py        the generic floor
      <recipe>/                    cc-ci's tests/<recipe>, each file replaced by an approved
                                   repo-local one of the same name
"""

from __future__ import annotations

import shutil
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from runner.errors import ExecError
from runner.maintainer.allowlist import Allowlist
from runner.plumbing import safetar
from runner.recipe import git

FOLDER = "cc-ci"


def _ignored(keep_out: Path) -> Callable[[str, list[str]], set[str]]:
    """What copying a tests folder leaves out: caches, and the run dir when runs are kept inside
    the folder being copied (e.g. CCCI_OVERLAY_DIR and CCCI_RUNS_DIR in one scratch dir)."""
    def ignore(directory: str, names: list[str]) -> set[str]:
        here = Path(directory).resolve()
        return {name for name in names if name == "__pycache__" or name.endswith(".pyc")
                or keep_out.is_relative_to(here / name)}
    return ignore


@dataclass(frozen=True)
class RepoLocal:
    """What the gate decided about the recipe repo's `cc-ci/` at the tested commit."""

    recipe: str
    tree: str | None  # git tree id of cc-ci/ at the tested commit; None: the repo has no cc-ci/
    files: list[str] = field(default_factory=list)  # cc-ci/... paths at that commit
    approval: str | None = None  # "by name" | "by tree id"; None: denied
    allowlist: str = ""  # the allowlist file that decided
    approved_trees: list[str] = field(default_factory=list)  # other trees approved for the recipe

    @property
    def approved(self) -> bool:
        return self.tree is not None and self.approval is not None

    @property
    def ignored(self) -> list[str]:
        return [] if self.approved else self.files

    @property
    def to_approve(self) -> str | None:
        """The allowlist line that would approve exactly this content."""
        return f"{self.recipe}@{self.tree}" if self.tree and not self.approved else None

    def message(self) -> str | None:
        """One line for the console and the summary; None when the repo has no cc-ci/."""
        if self.tree is None:
            return None
        if self.approved:
            return (f"repo-local {FOLDER}/ (tree {self.tree[:8]}) approved {self.approval}: "
                    f"{', '.join(self.files)} take the place of cc-ci's own files of the same name")
        stale = (f" (approved for {self.recipe}: tree {', '.join(t[:8] for t in self.approved_trees)}, "
                 f"not this one)" if self.approved_trees else "")
        return (f"repo-local {FOLDER}/ (tree {self.tree[:8]}) is not approved{stale}, ignored: {', '.join(self.files)}"
                f" — to run it, a cc-ci maintainer reviews it and adds `{self.to_approve}` to {self.allowlist}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"approved": self.approved, "ignored": self.ignored, "to_approve": self.to_approve}


def inspect(checkout: Path, commit: str, recipe: str, allowlist: Allowlist) -> RepoLocal:
    """Decide about `cc-ci/` at `commit` from git's objects alone: nothing is checked out or read."""
    try:
        tree = git.git(checkout, "rev-parse", "--verify", "--quiet", f"{commit}:{FOLDER}")
        is_folder = git.git(checkout, "cat-file", "-t", tree) == "tree"
    except ExecError:
        is_folder = False
    if not is_folder:
        return RepoLocal(recipe, None, allowlist=allowlist.source)
    files = [f"{FOLDER}/{name}" for name in git.git(checkout, "ls-tree", "-r", "--name-only", tree).splitlines()]
    others = sorted(allowlist.trees.get(recipe, frozenset()) - {tree})
    return RepoLocal(recipe, tree, files, allowlist.approval(recipe, tree), allowlist.source, others)


@dataclass(frozen=True)
class TierTests:
    """The run's tier tests folder."""

    root: Path
    generic_dir: Path
    recipe_dir: Path
    from_repo: frozenset[Path] = frozenset()  # files that came from the approved cc-ci/

    def shown(self, path: Path) -> str:
        """`test_install.py`, `<recipe>/test_install.py`, `custom/test_x.py (repo-local)`."""
        name = path.name if path.parent == self.generic_dir else str(path.relative_to(path.parents[1]))
        return name + (" (repo-local)" if path in self.from_repo else "")


def build_tier_tests(root: Path, cc_ci_tests: Path, own_overlay: Path, recipe: str,
                     repo_local: RepoLocal, checkout: Path, test_folders: Iterable[str]) -> TierTests:
    """cc-ci's fixtures, generic floor and overlay for the recipe, then the approved cc-ci/ on top.
    `test_folders`: the overlay folders the ops read tests from (`Lifecycle.overlay_dirs`: custom/)."""
    recipe_dir = root / recipe
    root.mkdir(parents=True)
    # an ini file of its own, so that none above the run dir applies; the recipe's folders are on
    # sys.path, so that its tests import the maintainer's helpers beside them (`from _helpers import …`)
    paths = " ".join([recipe, *(f"{recipe}/{folder}" for folder in test_folders)])
    (root / "pytest.ini").write_text(f"[pytest]\npythonpath = {paths}\n")
    if (cc_ci_tests / "conftest.py").is_file():
        shutil.copy2(cc_ci_tests / "conftest.py", root / "conftest.py")
    ignore = _ignored(root.resolve())
    if (cc_ci_tests / "_generic").is_dir():
        shutil.copytree(cc_ci_tests / "_generic", root / "_generic", ignore=ignore)
    if own_overlay.is_dir():
        shutil.copytree(own_overlay, recipe_dir, ignore=ignore)
    recipe_dir.mkdir(exist_ok=True)
    from_repo: frozenset[Path] = frozenset()
    if repo_local.approved:
        assert repo_local.tree is not None
        from_repo = _extract(checkout, repo_local.tree, recipe_dir)
    return TierTests(root, root / "_generic", recipe_dir, from_repo)


def _extract(checkout: Path, tree: str, dest: Path) -> frozenset[Path]:
    """Exactly the approved tree (by its id, not re-resolved from a ref) over `dest`."""
    archive = dest.parent / f".{FOLDER}-{tree[:12]}.tar"
    git.git(checkout, "archive", "--format=tar", "-o", str(archive), tree)
    try:
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.isfile()]
            safetar.extract_data(tar, dest)  # no absolute paths, no links out of dest
    finally:
        archive.unlink()
    return frozenset(dest / m.name for m in members)
