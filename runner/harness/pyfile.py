"""Loading a recipe's Python file (ops.py, recipe_meta.py) as a module: the one place that does."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from runner.errors import BadInput


def load_module(path: Path, name: str, shown: str | None = None) -> ModuleType:
    """Import `path` as module `name`; any error in it is the recipe's bad input, named `shown`."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # noqa: BLE001 - whatever the file raises, the run refuses it as input
        raise BadInput(f"{shown or path}: {type(err).__name__}: {err}") from None
    return module
