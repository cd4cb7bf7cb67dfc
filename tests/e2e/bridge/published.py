"""The example recipe as a forge publishes a PR of it: a bare repo whose `refs/pull/<n>/head`
is the PR's head, reached over file:// by the runs the bridge starts."""

from __future__ import annotations

from pathlib import Path

from runner.plumbing.paths import REPO_ROOT
from runner.recipe import git
from runner.recipe.repos import bundled_recipe_repo

EXAMPLE = "custom-html-tiny"


def publish_pr(tmp_path: Path, pr: int, name: str) -> tuple[dict[str, str], str]:
    """The example recipe published as `name` (not a bundled name, so that the run clones it over
    file://, with the example's overlays): (the run's env, the PR's head commit)."""
    source = bundled_recipe_repo(EXAMPLE)
    base = tmp_path / "forge-repos" / f"{name}.git"
    git.git(None, "clone", "-q", "--bare", str(source), str(base))
    head = git.rev_parse(source, "HEAD")
    git.git(base, "update-ref", f"refs/pull/{pr}/head", head)
    env = {
        "CCCI_RECIPE_URL_TEMPLATE": f"file://{base.parent}/{{name}}.git",
        "CCCI_RESOLVE_IMAGE": "never",  # the example's images exist only locally
        "CCCI_OVERLAY_DIR": str(REPO_ROOT / "tests" / EXAMPLE),
    }
    return env, head
