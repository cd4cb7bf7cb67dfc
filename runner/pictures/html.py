"""HTML as cc-ci draws it, for the summary card (here) and the dashboard's pages (which stand on
this floor): one Jinja2 set-up, autoescaped, and how a duration reads on both."""

from __future__ import annotations

from pathlib import Path

import jinja2


def templates(folder: Path) -> jinja2.Environment:
    """The templates in `folder`, autoescaped; a value a run did not record renders empty
    (results.json of an older run lacks newer keys)."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(folder),
                              autoescape=True, undefined=jinja2.ChainableUndefined,
                              trim_blocks=True, lstrip_blocks=True)


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f}s" if value < 120 else f"{int(value // 60)}m{int(value % 60):02d}s"
