"""The docs' settings tables are the registry's: generated from RecipeMeta, checked here."""

from __future__ import annotations

import pytest

from runner.maintainer.meta import DOCS_WITH_TABLE, RecipeMeta, settings_table, with_settings_table
from runner.plumbing.paths import REPO_ROOT


@pytest.mark.parametrize("doc", DOCS_WITH_TABLE)
def test_the_settings_table_in_the_docs_is_the_registrys(doc: str) -> None:
    text = (REPO_ROOT / doc).read_text()
    assert with_settings_table(text) == text, (
        f"{doc}: the settings table disagrees with RecipeMeta; run `.venv/bin/python -m runner.maintainer.meta --update`")


def test_the_table_has_a_row_with_type_default_and_doc_for_every_setting() -> None:
    rows = [line for line in settings_table().splitlines()[2:]]
    assert [row.split("`")[1] for row in rows] == list(RecipeMeta.model_fields)
    for row, field in zip(rows, RecipeMeta.model_fields.values(), strict=True):
        assert field.description and row.endswith(f" {field.description} |")
    assert "| `HEALTH_PATH` | `str` | `'/'` |" in settings_table()
    assert "| `READY_PROBE` | `Callable[[ctx], bool] \\| None` | `None` |" in settings_table()
