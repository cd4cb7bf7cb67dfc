"""Nothing in an overlay folder is ignored in silence: misnamed files and folders are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.maintainer.overlaycheck import folder_entries, stray_entries
from runner.ops import LIFECYCLE
from runner.plumbing.paths import TESTS_DIR


def test_a_correct_overlay_folder_has_nothing_stray() -> None:
    entries = ["test_install.py", "test_upgrade.py", "test_backup.py", "test_restore.py", "ops.py",
               "recipe_meta.py", "install_steps.sh", "conftest.py", "README.md", "_notes.py",
               "custom/test_site.py", "custom/_pages.py", "custom/conftest.py", "__pycache__/ops.cpython-311.pyc"]
    assert stray_entries(entries, LIFECYCLE) == []


@pytest.mark.parametrize(("entry", "said"), [
    ("test_instal.py", "test_instal.py: no tier collects it and nothing reads it (did you mean test_install.py?)"),
    ("custm/test_site.py", "custm/: no tier collects it and nothing reads it (did you mean custom/?)"),
    ("recipe-meta.py", "recipe-meta.py: no tier collects it and nothing reads it (did you mean recipe_meta.py?)"),
    ("test_custom.py", "test_custom.py: no tier collects it (the custom tier's tests go in custom/test_*.py)"),
    ("helpers.py", "helpers.py: no tier collects it and nothing reads it (helpers of your own: name them with a "
                   "leading underscore, e.g. _helpers.py)"),
    ("custom/site_test.py", "custom/site_test.py: not collected (custom tests are named custom/test_*.py)"),
])
def test_a_misnamed_entry_is_named_with_what_was_meant(entry: str, said: str) -> None:
    assert stray_entries([entry, "test_install.py"], LIFECYCLE) == [said]


def test_a_stray_folder_is_named_once() -> None:
    assert len(stray_entries(["custm/test_a.py", "custm/test_b.py"], LIFECYCLE)) == 1


@pytest.mark.parametrize("recipe", ["custom-html-tiny", "notes-tiny", "custom-html-repolocal"])
def test_the_bundled_overlays_have_nothing_stray(recipe: str) -> None:
    assert stray_entries(folder_entries(TESTS_DIR / recipe), LIFECYCLE) == []


def test_folder_entries_are_relative_files(tmp_path: Path) -> None:
    (tmp_path / "custom").mkdir()
    (tmp_path / "custom" / "test_a.py").write_text("")
    (tmp_path / "ops.py").write_text("")
    assert sorted(folder_entries(tmp_path)) == ["custom/test_a.py", "ops.py"]
    assert folder_entries(tmp_path / "none") == []
