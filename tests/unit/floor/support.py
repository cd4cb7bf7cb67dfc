"""Unit tests of the generic floor (`tests/_generic/test_<op>.py`): each floor file is loaded as a
module and its test functions are called with stubbed fixtures (op state, app, target), so every
assertion can be shown failing on the broken case and passing on the edge cases, without a swarm.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from runner.plumbing.paths import TESTS_DIR


def load_floor(op: str) -> ModuleType:
    """`tests/_generic/test_<op>.py` as a fresh module (its fixtures are plain functions too)."""
    path = TESTS_DIR / "_generic" / f"test_{op}.py"
    spec = importlib.util.spec_from_file_location(f"ccci_floor_{op}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fixture_function(module: ModuleType, name: str):  # type: ignore[no-untyped-def]
    """The plain function behind a `@pytest.fixture` defined in a floor file."""
    fixture = getattr(module, name)
    return getattr(fixture, "__wrapped__", None) or fixture.__pytest_wrapped__.obj


def floor_file(op: str) -> Path:
    return TESTS_DIR / "_generic" / f"test_{op}.py"
