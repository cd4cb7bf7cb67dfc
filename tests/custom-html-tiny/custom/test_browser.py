"""custom-html-tiny in a browser: what a visitor sees (a Playwright `page`, pointed at the app)."""

from __future__ import annotations

from typing import Any


def test_the_front_page_shows_the_recipe_name_as_its_heading(page: Any) -> None:
    page.goto("/")
    assert page.locator("h1").inner_text().startswith("custom-html-tiny")
