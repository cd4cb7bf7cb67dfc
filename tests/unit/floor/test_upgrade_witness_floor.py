"""The upgrade floor's witness check (`tests/_generic/test_upgrade.py`): the files the harness
planted in each volume root after the install are still there, byte for byte, after the upgrade;
an upgrade that lost a volume's data (a new, empty volume) goes red."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.evidence import proof
from runner.evidence.proof import Key
from runner.maintainer.meta import RecipeMeta
from runner.run.app import App
from runner.run.opstate import OpRecord, OpState, Witness
from tests.unit.floor.support import load_floor

floor = load_floor("upgrade")
META = RecipeMeta.model_validate({})
PLANTED = {"content": b"planted after the install, content", "db": b"planted after the install, db"}
WITNESSES = [Witness(volume=v, path=f".cc-ci-witness-{v}", sha256=proof.sha256(data)) for v, data in PLANTED.items()]


def _app() -> App:
    return App(recipe="recipe", run_id="r1", domain="app.test", stack="app_test", checkout=Path("/nowhere"),
               run_dir=Path("/nowhere"), env={})


def _state(witnesses: list[Witness]) -> OpState:
    return OpState(run_id="r1", recipe="recipe", head_commit="0" * 40,
                   ops={"install": OpRecord(op="install", witnesses=witnesses), "upgrade": OpRecord(op="upgrade")})


class Volumes:
    def __init__(self, files: dict[Key, bytes]) -> None:
        self.files = files

    def file_digests(self, app: App, files: list[Key]) -> dict[Key, str | None]:
        return {key: proof.sha256(self.files[key]) if key in self.files else None for key in files}


def _kept() -> dict[Key, bytes]:
    return {(w.volume, w.path): PLANTED[w.volume] for w in WITNESSES}


def test_witnesses_still_in_place_pass() -> None:
    floor.test_the_witnesses_planted_at_install_are_still_in_place(_app(), Volumes(_kept()), _state(WITNESSES), META)


def test_a_volume_created_anew_by_the_upgrade_fails_naming_its_witness() -> None:
    files = _kept()
    del files[("db", ".cc-ci-witness-db")]
    with pytest.raises(AssertionError, match=r"1 of 2 witness file\(s\) planted at install are not in place after "
                                             r"the upgrade: db:.cc-ci-witness-db \(missing\)"):
        floor.test_the_witnesses_planted_at_install_are_still_in_place(_app(), Volumes(files), _state(WITNESSES), META)


def test_a_witness_with_other_bytes_fails() -> None:
    files = _kept() | {("content", ".cc-ci-witness-content"): b"something else"}
    with pytest.raises(AssertionError, match=r"content:.cc-ci-witness-content \(changed\)"):
        floor.test_the_witnesses_planted_at_install_are_still_in_place(_app(), Volumes(files), _state(WITNESSES), META)


def test_without_witnesses_the_check_skips_saying_why() -> None:
    opted_out = RecipeMeta.model_validate({"SKIP_WITNESSES": "the app refuses unknown files"})
    with pytest.raises(pytest.skip.Exception, match="SKIP_WITNESSES = 'the app refuses unknown files'"):
        floor.test_the_witnesses_planted_at_install_are_still_in_place(_app(), Volumes({}), _state([]), opted_out)
    with pytest.raises(pytest.skip.Exception, match="no volume"):
        floor.test_the_witnesses_planted_at_install_are_still_in_place(_app(), Volumes({}), _state([]), META)


def test_a_lost_witness_says_what_missing_and_changed_mean() -> None:
    files = _kept()
    del files[("db", ".cc-ci-witness-db")]  # a volume renamed by the head: db no longer mounted
    with pytest.raises(AssertionError) as failed:
        floor.test_the_witnesses_planted_at_install_are_still_in_place(_app(), Volumes(files), _state(WITNESSES), META)
    assert str(failed.value) == (
        "1 of 2 witness file(s) planted at install are not in place after the upgrade: db:.cc-ci-witness-db "
        "(missing). Missing: the volume is gone, or no service mounts it any more; changed: its data was "
        "rewritten. Either way the upgrade did not keep that volume's data")
