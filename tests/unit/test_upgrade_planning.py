"""The upgrade's pure parts: which release it starts from, and how the app env is merged."""

from __future__ import annotations

import re

import pytest

from runner.errors import BadInput
from runner.recipe.compose import deploy_labels, version_label
from runner.recipe.envfile import merge_upgrade_env, parse_env, secret_specs
from runner.recipe.versions import choose_base

TAGS = ["1.0.0+1.0", "1.1.0+1.1", "1.2.0+2.0", "latest", "nightly-2026"]


@pytest.mark.parametrize(
    ("before", "at_head", "label", "pinned", "base", "why"),
    [
        # newest release strictly older than the head
        (TAGS, [], "1.3.0+2.1", None, "1.2.0+2.0", "newest release older"),
        # the head carries the newest release's label: unreleased commits on top of it, step back once
        (TAGS, [], "1.2.0+2.0", None, "1.1.0+1.1", "stepped back to 1.1.0+1.1"),
        # only one release and the head is it plus commits: nothing to upgrade from
        (["1.0.0+1.0"], [], "1.0.0+1.0", None, None, "no older release exists"),
        # no release at all
        (["latest"], [], "0.1.0+1", None, None, "no release older than the head"),
        # the head is itself a release: only older ones count, whatever else is on its ancestors
        (["1.0.0+1.0", "1.1.0+1.1"], ["1.1.0+1.1"], "1.1.0+1.1", None, "1.0.0+1.0", "newest release older"),
        (["1.0.0+1.0", "2.0.0+1.0"], ["1.5.0+1.0"], "1.5.0+1.0", None, "1.0.0+1.0", "newest release older"),
        # unparseable tags are ignored, ordering is semver not lexical
        (["1.9.0+1", "1.10.0+1", "v-old"], [], "1.11.0+1", None, "1.10.0+1", "newest release older"),
        # a pin wins over everything
        (TAGS, [], "1.2.0+2.0", "1.0.0+1.0", "1.0.0+1.0", "pinned by UPGRADE_BASE_VERSION"),
    ],
)
def test_the_base_is_chosen_by_policy(before: list[str], at_head: list[str], label: str, pinned: str | None,
                                      base: str | None, why: str) -> None:
    chosen, reason = choose_base(before, at_head, label, pinned, all_tags=before + at_head)
    assert chosen == base
    assert why in reason


@pytest.mark.parametrize("pin", ["9.9.9+9", "latest", "1.0.0"])
def test_a_pin_that_is_not_a_release_tag_is_bad_input_naming_the_releases(pin: str) -> None:
    with pytest.raises(BadInput, match=re.escape(f"UPGRADE_BASE_VERSION '{pin}' is not a release tag of the recipe (releases: 1.0.0+1.0, 1.1.0+1.1, 1.2.0+2.0)")):
        choose_base(TAGS, [], None, pin, all_tags=TAGS)


def test_deploy_labels_are_read_in_list_and_map_form() -> None:
    assert deploy_labels({"deploy": {"labels": ["a=1", "b=x=y", "c"]}}) == {"a": "1", "b": "x=y", "c": ""}
    assert deploy_labels({"deploy": {"labels": {"a": 1, "b": None}}}) == {"a": "1", "b": ""}
    assert deploy_labels({}) == {}


def test_the_version_label_is_the_last_in_the_compose_chain() -> None:
    first = 'services:\n  app:\n    deploy:\n      labels: ["coop-cloud.${STACK_NAME}.version=1.0.0+1"]\n'
    second = 'services:\n  app:\n    deploy:\n      labels:\n        coop-cloud.${STACK_NAME}.version: 2.0.0+1\n'
    assert version_label([first]) == "1.0.0+1"
    assert version_label([first, second]) == "2.0.0+1"
    assert version_label(["services:\n  db: {}\n"]) is None


CURRENT = {"TYPE": "r", "DOMAIN": "r-1.ccci.test", "LETS_ENCRYPT_ENV": "staging",
           "SECRET_DB_PASSWORD_VERSION": "v1", "SECRET_ADMIN_VERSION": "v1"}
HEAD_SAMPLE = """TYPE=r
DOMAIN=r.example.com
LETS_ENCRYPT_ENV=production
SECRET_DB_PASSWORD_VERSION=v2 # length=40
SECRET_ADMIN_VERSION=v1
SECRET_SMTP_VERSION=v1 # length=12
NEW_FEATURE=on
"""


def test_upgrade_env_keeps_values_adds_new_keys_and_follows_secret_versions() -> None:
    head = parse_env(HEAD_SAMPLE, overrides={"DOMAIN": "r-1.ccci.test"})
    merged, added, changed, kept = merge_upgrade_env(CURRENT, head, extra={})
    assert merged.values["LETS_ENCRYPT_ENV"] == "staging"  # the operator's value stays
    assert kept == {"LETS_ENCRYPT_ENV": ("staging", "production")}
    assert added == {"SECRET_SMTP_VERSION": "v1", "NEW_FEATURE": "on"}
    assert changed == {"SECRET_DB_PASSWORD_VERSION": ("v1", "v2")}  # a bumped version = a new secret
    specs = {s.name: (s.version, s.length) for s in secret_specs(merged)}
    assert specs == {"db_password": ("v2", 40), "admin": ("v1", 32), "smtp": ("v1", 12)}
    assert merged.values["DOMAIN"] == "r-1.ccci.test"


def test_upgrade_extra_env_adds_and_overrides_last() -> None:
    head = parse_env(HEAD_SAMPLE)
    merged, added, changed, kept = merge_upgrade_env(CURRENT, head, extra={"LETS_ENCRYPT_ENV": "production",
                                                                           "SMTP_HOST": "mail"})
    assert merged.values["LETS_ENCRYPT_ENV"] == "production" and "LETS_ENCRYPT_ENV" not in kept
    assert changed["LETS_ENCRYPT_ENV"] == ("staging", "production")
    assert added["SMTP_HOST"] == "mail"
