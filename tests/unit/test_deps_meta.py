"""DEPS and DEPS_ENV in recipe_meta.py: typed and validated with every other setting (issue 26)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.errors import BadInput
from runner.maintainer.meta import fill_dep_env, load_meta, parse_dep, validate_meta
from runner.ops import LIFECYCLE
from runner.recipe import repos

ENROLLED = ["custom-html-tiny", "notes-tiny", "sso-tiny"]


def test_deps_name_enrolled_recipes_optionally_at_a_version() -> None:
    meta = validate_meta({"DEPS": ["sso-tiny:1.0.0+0.1"], "DEPS_ENV": {"OIDC_ISSUER": "{sso-tiny.issuer}/x"}},
                         LIFECYCLE, recipes=ENROLLED)
    assert meta.DEPS == ["sso-tiny:1.0.0+0.1"] and meta.DEPS_ENV == {"OIDC_ISSUER": "{sso-tiny.issuer}/x"}
    assert parse_dep("sso-tiny") == ("sso-tiny", None) and parse_dep("sso-tiny:1.0.0+0.1") == ("sso-tiny", "1.0.0+0.1")
    assert validate_meta({}, LIFECYCLE).DEPS == []


def test_an_unknown_dependency_is_bad_input_at_its_line_with_a_did_you_mean(tmp_path: Path) -> None:
    (tmp_path / "recipe_meta.py").write_text("HEALTH_PATH = '/'\nDEPS = ['sso-tiyn']\n")
    with pytest.raises(BadInput) as err:
        load_meta(tmp_path, LIFECYCLE, recipes=ENROLLED)
    assert str(err.value).startswith("recipe_meta.py:2: DEPS: 'sso-tiyn' is not an enrolled recipe "
                                     "(did you mean sso-tiny?); expected list[str], got list ['sso-tiyn']")


@pytest.mark.parametrize(("values", "message"), [
    ({"DEPS": "sso-tiny"}, "DEPS: Input should be a valid list"),
    ({"DEPS": ["Not A Name"]}, "DEPS: 'Not A Name' is not a recipe name, optionally with :<version>"),
    ({"DEPS": ["sso-tiny", "sso-tiny:1.0.0"]}, "DEPS: 'sso-tiny' is named twice"),
    ({"DEPS": ["zzz"]}, "DEPS: 'zzz' is not an enrolled recipe; enrolled recipes are custom-html-tiny, notes-tiny, sso-tiny"),
    ({"DEPS": ["sso-tiny"], "DEPS_ENV": {"OIDC": "{sso-tny.issuer}"}},
     "DEPS_ENV: OIDC: {sso-tny.…} names no dependency of DEPS (did you mean sso-tiny?)"),
    ({"DEPS_ENV": {"OIDC": "{sso-tiny.issuer}"}}, "DEPS_ENV: OIDC: {sso-tiny.…} names no dependency of DEPS (DEPS names none)"),
    ({"DEPS_ENV": {"OIDC": 1}}, "DEPS_ENV: Input should be a valid string"),
])
def test_a_wrong_deps_setting_is_bad_input_naming_what_is_wrong(values: dict[str, object], message: str) -> None:
    with pytest.raises(BadInput) as err:
        validate_meta(values, LIFECYCLE, recipes=ENROLLED)
    assert str(err.value).startswith(f"recipe_meta.py: {message}")


def test_deps_env_is_filled_from_what_provision_returned() -> None:
    provided = {"sso-tiny": {"issuer": "http://sso/realms/r1", "client_id": "c1"}}
    filled, missing = fill_dep_env({"OIDC_ISSUER": "{sso-tiny.issuer}", "ID": "id={sso-tiny.client_id}"}, provided)
    assert filled == {"OIDC_ISSUER": "http://sso/realms/r1", "ID": "id=c1"} and missing == []
    # a dependency that could not be provided: its keys are left out, and said why
    filled, missing = fill_dep_env({"OIDC_ISSUER": "{sso-tiny.issuer}"}, {})
    assert filled == {} and missing == ["OIDC_ISSUER: sso-tiny not provided"]


def test_a_key_that_provision_did_not_return_is_bad_input_with_a_did_you_mean() -> None:
    with pytest.raises(BadInput) as err:
        fill_dep_env({"OIDC_ISSUER": "{sso-tiny.isuer}"}, {"sso-tiny": {"issuer": "x", "client_id": "c"}})
    assert str(err.value) == ("recipe_meta.py: DEPS_ENV: OIDC_ISSUER: sso-tiny's provision returned no 'isuer' "
                              "(did you mean issuer?)")


def test_enrolled_names_are_the_bundled_recipes_and_the_folders_beside_with_meta_or_hooks(tmp_path: Path) -> None:
    for name, files in {"prov": ["ops.py"], "dep": ["recipe_meta.py"], "unit": ["test_x.py"], "_generic": ["ops.py"]}.items():
        (tmp_path / name).mkdir()
        for file in files:
            (tmp_path / name / file).write_text("")
    names = repos.enrolled_names(tmp_path)
    assert {"prov", "dep", "custom-html-tiny", "notes-tiny"} <= set(names)
    assert "unit" not in names and "_generic" not in names
