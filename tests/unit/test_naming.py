"""Run-scoped names: unique per run and inside Docker's limits."""

from __future__ import annotations

import re

import pytest

from runner.errors import BadInput
from runner.recipe import naming


def test_run_ids_are_unique_and_valid() -> None:
    ids = {naming.new_run_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(naming.RUN_ID.match(i) for i in ids)


def test_domain_is_run_scoped_and_stack_replaces_dots() -> None:
    domain = naming.app_domain("custom-html-tiny", "20261122-101500-abcdef", "ccci.test")
    assert re.fullmatch(r"custom-html-tiny-[0-9a-f]{8}\.ccci\.test", domain)
    assert naming.stack_name(domain) == domain.replace(".", "_")
    other = naming.app_domain("custom-html-tiny", "20261122-101500-abcdeg", "ccci.test")
    assert other != domain


def test_long_recipe_names_are_shortened_so_the_stack_fits() -> None:
    domain = naming.app_domain("a-very-long-recipe-name-that-goes-on-and-on", "r1x", "ccci.test")
    stack = naming.stack_name(domain)
    assert len(stack) <= naming.MAX_STACK_NAME
    assert stack.endswith(f"-{naming.run_suffix('r1x')}_ccci_test")


def test_stack_name_is_capped_at_abras_limit() -> None:
    assert len(naming.stack_name("x" * 80 + ".example.org")) == naming.MAX_STACK_NAME


def test_secret_names_follow_abra_and_fit_docker() -> None:
    assert naming.secret_name("app_ccci_test", "db_password", "v1") == "app_ccci_test_db_password_v1"
    with pytest.raises(BadInput, match="over Docker's 64"):
        naming.secret_name("s" * 45, "a_rather_long_secret_name", "v1")


def test_an_overlong_domain_base_is_bad_input() -> None:
    with pytest.raises(BadInput, match="CCCI_DOMAIN_BASE"):
        naming.app_domain("r", "run-1", "x" * 40 + ".test")


def test_a_commit_is_shown_cut_to_12_and_a_release_tag_whole() -> None:
    assert naming.shown_ref("f5984612640d3c8e2b1a0f9e8d7c6b5a49382716") == "f5984612640d"
    assert naming.shown_ref("2.0.0+1.0.5-social-amd64") == "2.0.0+1.0.5-social-amd64"  # was `2.0.0+1.0.5-`
