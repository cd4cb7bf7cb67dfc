"""A recipe's settings: the ALL-CAPS names of `tests/<recipe>/recipe_meta.py`, validated once.

Only cc-ci's own files are read here (the recipe repo's are gated by the allowlist, later).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runner.errors import BadInput
from runner.harness.config import OPS


class RecipeMeta(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    UPGRADE_BASE_VERSION: str | None = Field(None, description="release tag the upgrade starts from")
    UPGRADE_EXTRA_ENV: dict[str, str] = Field(default_factory=dict,
                                              description="app env keys an upgrade adds or overrides")
    SKIP_GENERIC: bool | frozenset[str] = Field(False, description="True, or a set of ops whose generic floor is not collected")

    def generic_skipped(self) -> frozenset[str]:
        if self.SKIP_GENERIC is True:
            return frozenset(OPS)
        return self.SKIP_GENERIC or frozenset()


def load_meta(recipe_dir: Path) -> RecipeMeta:
    """`<recipe_dir>/recipe_meta.py`'s ALL-CAPS names, or the defaults when it has none."""
    path = recipe_dir / "recipe_meta.py"
    if not path.is_file():
        return RecipeMeta.model_validate({})
    spec = importlib.util.spec_from_file_location(f"ccci_recipe_meta_{recipe_dir.name.replace('-', '_')}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # noqa: BLE001 - any error in the file is the recipe's bad input
        raise BadInput(f"{path}: {type(err).__name__}: {err}") from None
    values = {name: getattr(module, name) for name in dir(module) if name.isupper()}
    try:
        meta = RecipeMeta.model_validate(values)
    except ValidationError as err:
        first = err.errors()[0]
        raise BadInput(f"{path.name}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    unknown_ops = meta.generic_skipped() - set(OPS)
    if unknown_ops:
        raise BadInput(f"{path.name}: SKIP_GENERIC names unknown op {sorted(unknown_ops)[0]!r}; choose from {', '.join(OPS)}")
    return meta
