"""recipe_meta.py and ops.py of a recipe: loaded once, validated, bad ones refused as bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.errors import BadInput
from runner.maintainer.hooks import HookContext, HookError, Hooks, call_hook, load_hooks
from runner.maintainer.meta import RecipeMeta, load_meta, validate_meta
from runner.ops import LIFECYCLE


def test_a_recipe_without_meta_gets_the_defaults(tmp_path: Path) -> None:
    meta = load_meta(tmp_path, LIFECYCLE)
    assert meta.UPGRADE_BASE_VERSION is None and meta.generic_skipped(LIFECYCLE.names) == frozenset()


@pytest.mark.parametrize(("text", "skipped"), [("SKIP_GENERIC = True", set(LIFECYCLE.names)),
                                               ("SKIP_GENERIC = {'backup', 'restore'}", {"backup", "restore"}),
                                               ("SKIP_GENERIC = False", set())])
def test_skip_generic_is_true_or_a_set_of_ops(tmp_path: Path, text: str, skipped: set[str]) -> None:
    (tmp_path / "recipe_meta.py").write_text(text + "\n")
    assert load_meta(tmp_path, LIFECYCLE).generic_skipped(LIFECYCLE.names) == skipped


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SKIP_GENERIC = {'deploy'}", "recipe_meta.py:1: SKIP_GENERIC: names unknown op 'deploy'"),
        ("UPGRADE_EXTRA_ENV = ['A=1']", "recipe_meta.py:1: UPGRADE_EXTRA_ENV: "),
        ("raise RuntimeError('boom')", "recipe_meta.py:1: RuntimeError: boom"),
    ],
)
def test_a_bad_meta_is_bad_input(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "recipe_meta.py").write_text(text + "\n")
    with pytest.raises(BadInput, match=message):
        load_meta(tmp_path, LIFECYCLE)


def test_an_unknown_all_caps_name_is_bad_input_with_a_suggestion(tmp_path: Path) -> None:
    (tmp_path / "recipe_meta.py").write_text("DEPLOY_TIMOUT = 600\n")
    with pytest.raises(BadInput) as err:
        load_meta(tmp_path, LIFECYCLE, shown="cc-ci/recipe_meta.py")
    assert str(err.value) == "cc-ci/recipe_meta.py:1: unknown setting 'DEPLOY_TIMOUT' (did you mean DEPLOY_TIMEOUT?)"
    with pytest.raises(BadInput, match=r"^recipe_meta.py: unknown setting 'FROBNICATE'; settings are DEPLOY_TIMEOUT, "):
        validate_meta({"FROBNICATE": 1}, LIFECYCLE)


@pytest.mark.parametrize(("values", "message"), [
    ({"DEPLOY_TIMEOUT": "600"}, "DEPLOY_TIMEOUT: Input should be a valid integer; expected int | None, got str '600'"),
    ({"DEPLOY_TIMEOUT": 0}, "DEPLOY_TIMEOUT: Input should be greater than or equal to 1; expected int | None, got int 0"),
    ({"HEALTH_PATH": "health"}, "HEALTH_PATH: 'health' is not a path; it must start with /; expected str, got str 'health'"),
    ({"BACKUP_CAPABLE": "yes"}, "BACKUP_CAPABLE: Input should be a valid boolean; expected bool | None, got str 'yes'"),
    ({"READY_PROBE": True}, "READY_PROBE: Input should be callable; expected Callable[[ctx], bool] | None, got bool True"),
    ({"EXTRA_ENV": {"A": 1}}, "EXTRA_ENV: Input should be a valid string; expected dict[str, str], got dict {'A': 1}"),
    ({"EXPECTED_NA": {"deploy": "x"}}, "EXPECTED_NA: 'deploy' is not a stage that can be n/a; choose from lint, idempotent, upgrade, backup, restore, custom"),
    ({"EXPECTED_NA": {"install": "x"}}, "EXPECTED_NA: 'install' is not a stage that can be n/a"),
    ({"EXPECTED_NA": {"custom": " "}}, "EXPECTED_NA: 'custom' needs a reason"),
])
def test_a_wrong_type_is_bad_input_naming_the_key_and_the_expected_type(values: dict[str, object], message: str) -> None:
    with pytest.raises(BadInput) as err:
        validate_meta(values, LIFECYCLE)
    assert str(err.value).startswith(f"recipe_meta.py: {message}")


def test_private_and_lower_case_names_are_the_files_own_helpers(tmp_path: Path) -> None:
    (tmp_path / "recipe_meta.py").write_text(
        "import os\nfrom pathlib import Path\n_TIMEOUT = 300\n_Private = 1\n"
        "def _ready(ctx):\n    return ctx.http.get('/').status_code == 200\n"
        "DEPLOY_TIMEOUT = _TIMEOUT\nREADY_PROBE = _ready\n")
    meta = load_meta(tmp_path, LIFECYCLE)
    assert meta.DEPLOY_TIMEOUT == 300 and meta.READY_PROBE is not None and meta.READY_PROBE.__name__ == "_ready"


def test_the_effective_settings_name_callables_and_round_trip_for_assertion_files() -> None:
    def probe(ctx: object) -> bool:
        return True
    meta = validate_meta({"READY_PROBE": probe, "SKIP_GENERIC": {"restore", "backup"}, "HEALTH_PATH": "/up",
                          "EXPECTED_NA": {"backup": "stateless"}}, LIFECYCLE)
    effective = meta.effective()
    assert effective["READY_PROBE"].endswith("probe") and effective["SKIP_GENERIC"] == ["backup", "restore"]
    # no restore (into this app or a fresh one) without a backup
    assert effective["EXPECTED_NA"] == {"backup": "stateless", "restore": "stateless", "restore-fresh": "stateless"}
    assert set(effective) == set(RecipeMeta.model_fields)
    again = RecipeMeta.from_effective(effective)
    assert again.HEALTH_PATH == "/up" and again.generic_skipped(LIFECYCLE.names) == {"backup", "restore"}
    assert again.READY_PROBE is not None
    with pytest.raises(RuntimeError, match="READY_PROBE .*probe.* runs in the orchestrator"):
        again.READY_PROBE(None)


def test_hooks_are_the_pre_and_post_op_functions_of_ops_py(tmp_path: Path) -> None:
    (tmp_path / "ops.py").write_text("def pre_backup(ctx):\n    return 1\n\ndef post_install(ctx):\n    return 2\n\n"
                                     "def helper():\n    pass\n")
    hooks = load_hooks(tmp_path, LIFECYCLE.names)
    assert (list(hooks.pre), list(hooks.post)) == (["backup"], ["install"])
    assert load_hooks(tmp_path / "nothing-here", LIFECYCLE.names) == Hooks()


def test_a_hook_for_no_op_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "ops.py").write_text("def pre_frobnicate(ctx):\n    pass\n")  # near no op's name
    with pytest.raises(BadInput, match=r"pre_frobnicate is not a hook \(hooks are pre_<op> and post_<op>, ops are lint, install, idempotent, upgrade"):
        load_hooks(tmp_path, LIFECYCLE.names)


@pytest.mark.parametrize(("name", "meant"), [("pre_restor", "pre_restore"), ("post_instal", "post_install"),
                                             ("pre_backups", "pre_backup")])
def test_a_misspelt_hook_is_bad_input_with_a_did_you_mean(tmp_path: Path, name: str, meant: str) -> None:
    (tmp_path / "ops.py").write_text(f"def {name}(ctx):\n    pass\n")
    with pytest.raises(BadInput, match=rf"ops.py:1: {name} is not a hook \(did you mean {meant}\?\)"):
        load_hooks(tmp_path, LIFECYCLE.names)


def test_a_post_hook_that_raises_is_a_hook_error_naming_the_post_hook() -> None:
    def hook(ctx: HookContext) -> None:
        raise KeyError("notes")
    with pytest.raises(HookError, match="post_backup hook failed: KeyError"):
        call_hook(hook, _ctx(), "post")


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
