"""recipe_meta.py and ops.py of a recipe: loaded once, validated, bad ones refused as bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.errors import BadInput
from runner.harness.config import OPS
from runner.harness.hooks import HookContext, HookError, call_hook, load_hooks
from runner.harness.meta import load_meta


def test_a_recipe_without_meta_gets_the_defaults(tmp_path: Path) -> None:
    meta = load_meta(tmp_path)
    assert meta.UPGRADE_BASE_VERSION is None and meta.generic_skipped() == frozenset()


@pytest.mark.parametrize(("text", "skipped"), [("SKIP_GENERIC = True", set(OPS)),
                                               ("SKIP_GENERIC = {'backup', 'restore'}", {"backup", "restore"}),
                                               ("SKIP_GENERIC = False", set())])
def test_skip_generic_is_true_or_a_set_of_ops(tmp_path: Path, text: str, skipped: set[str]) -> None:
    (tmp_path / "recipe_meta.py").write_text(text + "\n")
    assert load_meta(tmp_path).generic_skipped() == skipped


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SKIP_GENERIC = {'deploy'}", "SKIP_GENERIC names unknown op 'deploy'"),
        ("UPGRADE_EXTRA_ENV = ['A=1']", "recipe_meta.py: UPGRADE_EXTRA_ENV: "),
        ("raise RuntimeError('boom')", "recipe_meta.py: RuntimeError: boom"),
    ],
)
def test_a_bad_meta_is_bad_input(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "recipe_meta.py").write_text(text + "\n")
    with pytest.raises(BadInput, match=message):
        load_meta(tmp_path)


def test_hooks_are_the_pre_op_functions_of_ops_py(tmp_path: Path) -> None:
    (tmp_path / "ops.py").write_text("def pre_backup(ctx):\n    return 1\n\ndef helper():\n    pass\n")
    assert list(load_hooks(tmp_path, OPS)) == ["backup"]
    assert load_hooks(tmp_path / "nothing-here", OPS) == {}


def test_a_hook_for_no_op_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "ops.py").write_text("def pre_deploy(ctx):\n    pass\n")
    with pytest.raises(BadInput, match="pre_deploy is not a hook; ops are install, upgrade"):
        load_hooks(tmp_path, OPS)


def _ctx() -> HookContext:
    return HookContext(op="backup", app=None, op_state=None, meta=None,  # type: ignore[arg-type]
                       _exec=lambda *a, **k: None, _http=lambda: None)  # type: ignore[arg-type,return-value]


def test_a_hook_that_raises_is_a_hook_error_naming_the_hook() -> None:
    def hook(ctx: HookContext) -> None:
        raise ValueError("marker not written")
    with pytest.raises(HookError, match="pre_backup hook failed: ValueError: marker not written"):
        call_hook(hook, _ctx())


def test_a_seed_that_is_not_json_is_refused() -> None:
    with pytest.raises(HookError, match="pre_backup hook returned something that is not JSON"):
        call_hook(lambda ctx: {"when": object()}, _ctx())
    assert call_hook(lambda ctx: {"marker": "x", "n": [1, 2]}, _ctx()) == {"marker": "x", "n": [1, 2]}
