"""Fixtures for unit tests that need a small recipe repo."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from runner.recipe import git
from tests.unit.forked_pytest import fork_server, forked_pytest  # noqa: F401  (fixtures)

# Property tests (hypothesis) fuzz every parser of outside input. CI gets a fixed, bounded search
# (derandomized: the same examples every run, so a red is reproducible, never a roll of the dice);
# HYPOTHESIS_PROFILE=deep searches harder by hand.
settings.register_profile(
    "ci", derandomize=True, max_examples=150, deadline=None,
    suppress_health_check=[HealthCheck.too_slow], database=None,
)
settings.register_profile("deep", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# a one-service compose.yml whose version label is `{label}` (`.format(label=...)`)
RECIPE_COMPOSE = """version: "3.8"
services:
  app:
    image: ccci-local/custom-html-tiny:1.0
    deploy:
      labels:
        - "coop-cloud.${{STACK_NAME}}.version={label}"
"""


@pytest.fixture
def make_recipe(tmp_path: Path) -> Callable[..., Path]:
    """`make_recipe(tags=[...], head_label=...)`: one commit per tag, then an untagged head."""
    def make(tags: list[str], head_label: str, name: str = "my-recipe") -> Path:
        repo = tmp_path / name
        repo.mkdir()
        (repo / ".env.sample").write_text("TYPE=my-recipe\nDOMAIN=x.example.com\n")
        git.git(repo, "init", "-q", "-b", "main")
        for tag in tags:
            (repo / "compose.yml").write_text(RECIPE_COMPOSE.format(label=tag))
            git.git(repo, "add", "-A")
            git.git(repo, "commit", "-q", "-m", f"release {tag}")
            git.git(repo, "tag", tag)
        (repo / "compose.yml").write_text(RECIPE_COMPOSE.format(label=head_label) + "# head\n")
        git.git(repo, "add", "-A")
        git.git(repo, "commit", "-q", "-m", "the PR head")
        return repo
    return make


@pytest.fixture
def overlays(tmp_path: Path) -> Path:
    """A tests dir with an overlay for every op and one custom test for the example recipe."""
    tests = tmp_path / "tests"
    (tests / "_generic").mkdir(parents=True)
    (tests / "custom-html-tiny" / "custom").mkdir(parents=True)
    for op in ("install", "upgrade", "backup", "restore"):
        (tests / "_generic" / f"test_{op}.py").write_text("")
        (tests / "custom-html-tiny" / f"test_{op}.py").write_text("")
    (tests / "custom-html-tiny" / "custom" / "test_pages.py").write_text("")
    return tests
