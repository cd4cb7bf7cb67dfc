"""Finding a recipe's git repo: bundled fixtures, enrolled names, or a local path."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

import yaml

from runner.errors import BadInput
from runner.plumbing.paths import FIXTURES_DIR, state_dir
from runner.recipe import git

RECIPE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
BUNDLED_DIR = FIXTURES_DIR / "recipes"
DEFAULT_URL_TEMPLATE = "https://git.coopcloud.tech/coop-cloud/{name}.git"


def is_bundled(name: str) -> bool:
    return (BUNDLED_DIR / name / "history.yml").is_file()


def enrolled_names(tests_dir: Path) -> list[str]:
    """The recipes a `DEPS` may name: the bundled ones, and every folder beside the recipe's own
    overlay folder (cc-ci's `tests/`) that carries a `recipe_meta.py` or an `ops.py`."""
    bundled = {p.name for p in BUNDLED_DIR.iterdir() if is_bundled(p.name)} if BUNDLED_DIR.is_dir() else set()
    beside = {p.name for p in tests_dir.iterdir()
              if RECIPE_NAME.match(p.name) and ((p / "recipe_meta.py").is_file() or (p / "ops.py").is_file())} \
        if tests_dir.is_dir() else set()
    return sorted(bundled | beside)


def bundled_recipe_repo(name: str) -> Path:
    """A real git repo (tags, history) built from the fixture `tests/fixtures/recipes/<name>`.

    Built once per fixture content into cc-ci's state dir; a run clones from it, never edits it.
    """
    fixture = BUNDLED_DIR / name
    if not is_bundled(name):
        raise BadInput(f"no bundled recipe {name!r} under {BUNDLED_DIR}")
    dest = state_dir() / "fixtures" / f"{name}-{_content_hash(fixture)}"
    if (dest / ".git").is_dir():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=dest.parent))
    try:
        _build_fixture_repo(fixture, tmp)
        os.rename(tmp, dest)  # atomic: concurrent runs see a whole repo or none
    except OSError:
        if not (dest / ".git").is_dir():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


# How the repo is built, beside the fixture's content: a change here builds a new repo rather than
# reuse one built the old way (2: release tags are annotated, as abra makes them; 3: it publishes
# its head as PR #1)
_BUILD = b"3"
# A forge publishes every PR's head as refs/pull/<n>/head, and the bridge always runs a PR: the
# example's newest commit is PR #1's head, so `!testme` on PR #1 can be tried on it (docs/bridge.md).
BUNDLED_PR = 1


def _content_hash(fixture: Path) -> str:
    digest = hashlib.sha256(_BUILD)
    for path in sorted(p for p in fixture.rglob("*") if p.is_file()):
        digest.update(path.relative_to(fixture).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def _build_fixture_repo(fixture: Path, repo: Path) -> None:
    history = yaml.safe_load((fixture / "history.yml").read_text())
    base = history["base"]
    shutil.copytree(fixture / "base", repo, dirs_exist_ok=True)
    dated = {"GIT_AUTHOR_DATE": base["date"], "GIT_COMMITTER_DATE": base["date"]}
    git.git(repo, "init", "-q", "-b", "main")
    git.git(repo, "add", "-A")
    git.git(repo, "commit", "-q", "-m", base["message"], env=dated)
    _release_tag(repo, base["tag"])
    for step in history.get("commits", []):
        git.git(repo, "am", "-q", "--committer-date-is-author-date", str(fixture / step["patch"]))
        if step.get("tag"):
            _release_tag(repo, step["tag"])
    git.git(repo, "update-ref", f"refs/pull/{BUNDLED_PR}/head", "HEAD")


def _release_tag(repo: Path, tag: str) -> None:
    """An annotated tag, as `abra recipe release` makes it, dated with the commit it tags (the
    tagger identity is git's fixed one) so that the tag object is the same on every machine."""
    date = git.git(repo, "log", "-1", "--format=%cI", "HEAD")
    git.git(repo, "tag", "-a", tag, "-m", f"chore: publish {tag} release", env={"GIT_COMMITTER_DATE": date})
