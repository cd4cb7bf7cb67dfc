"""Loading a recipe's Python file (ops.py, recipe_meta.py) as a module: the one place that does."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from runner.maintainer.problems import MaintainerFileError, Shown, from_exception, in_folder


def load_module(path: Path, name: str, shown: str | Shown | None = None) -> ModuleType:
    """Import `path` as module `name`, with its folder on sys.path meanwhile (so it can import
    the maintainer's helpers beside it, `_helpers.py`). Any error in it is the recipe's bad input,
    told at the maintainer's file and line (`shown` names the files)."""
    named = in_folder(path, shown)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    folder = str(path.parent)
    before = set(sys.modules)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # noqa: BLE001 - whatever the file raises, the run refuses it as input
        raise MaintainerFileError(from_exception(err, named, named(path) or str(path))) from None
    finally:
        sys.path.remove(folder)
        # helpers imported from the folder stay bound in the module, but leave the module cache:
        # another recipe's `_helpers` must not be this one
        for added in set(sys.modules) - before:
            file = getattr(sys.modules[added], "__file__", None) or ""
            if file and Path(file).resolve().is_relative_to(path.parent.resolve()):
                del sys.modules[added]
    return module
