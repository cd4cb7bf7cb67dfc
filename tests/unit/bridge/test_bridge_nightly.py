"""The bridge's nightly catalogue run (`nightly: {catalogue: FILE, at: "03:00"}`): when it is due
(an injected clock), never twice for one day across a restart, a missed night run once when the
bridge comes back, a bad config refused at start in one line, and a night made through a real
Bridge with the local executor (the fake run), its results in the catalogue history and its
regression reported to the tracking issue (stand-in forge) and the file's webhook (loopback)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from runner.bridge.config import BridgeConfig, load_config
from runner.bridge.nightly.when import due, latest_slot, next_slot
from runner.bridge.nightly.worker import SCHEDULE_NAME, Nightly
from runner.bridge.service import Bridge, load_secrets
from runner.bridge.store import Store
from runner.catalogue.history import History
from runner.cli import main as cli_main
from runner.errors import BadInput
from tests.unit.bridge.bridge_standins import StandinForge
from tests.unit.bridge.support import REPO, FakeRuns, config_data
from tests.unit.catalogue.hook import Hook

THREE = time(3, 0)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


# when.py: pure


def test_a_day_is_due_from_its_time_on_until_started() -> None:
    yesterday = date(2026, 12, 5)
    assert due(utc("2026-12-06T02:59:59"), THREE, UTC, yesterday) is None  # not yet today's; yesterday's done
    found = due(utc("2026-12-06T03:00:00"), THREE, UTC, yesterday)
    assert found is not None and found.day == date(2026, 12, 6) and not found.late
    assert due(utc("2026-12-06T03:00:00"), THREE, UTC, date(2026, 12, 6)) is None  # started already


def test_a_bridge_down_for_days_runs_the_newest_night_once_and_late() -> None:
    found = due(utc("2026-12-09T10:00:00"), THREE, UTC, date(2026, 12, 5))
    assert found is not None and found.day == date(2026, 12, 9) and found.late


def test_the_time_of_day_is_in_the_configured_zone_across_daylight_saving() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # winter: 03:00 in Berlin is 02:00 UTC; summer: 01:00 UTC
    assert latest_slot(utc("2026-12-06T02:30:00"), THREE, berlin).astimezone(UTC) == utc("2026-12-06T02:00:00")
    assert latest_slot(utc("2026-07-06T01:30:00"), THREE, berlin).astimezone(UTC) == utc("2026-07-06T01:00:00")
    assert next_slot(utc("2026-12-06T02:30:00"), THREE, berlin).astimezone(UTC) == utc("2026-12-07T02:00:00")


# worker.py: the schedule over the bridge's store, with an injected clock


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    made = Store(tmp_path / "bridge.sqlite3")
    yield made
    made.close()


def test_first_start_waits_for_the_next_time_then_runs_once_that_day(store: Store) -> None:
    clock, ran = Clock(utc("2026-12-06T10:00:00")), []
    nightly = Nightly(THREE, UTC, store, lambda d: ran.append(d.day), now=clock)
    assert nightly.tick() is None and ran == []  # nothing was missed before there was a schedule
    assert nightly.seconds_to_next() == 17 * 3600
    clock.now = utc("2026-12-07T02:59:00")
    assert nightly.tick() is None
    clock.now = utc("2026-12-07T03:00:30")
    assert nightly.tick() is not None and ran == [date(2026, 12, 7)]
    clock.now = utc("2026-12-07T03:01:00")
    assert nightly.tick() is None and ran == [date(2026, 12, 7)]


def test_a_restart_never_runs_one_day_twice(tmp_path: Path) -> None:
    clock, ran = Clock(utc("2026-12-07T03:00:10")), []
    first = Store(tmp_path / "bridge.sqlite3")
    first.set_last_day(SCHEDULE_NAME, date(2026, 12, 6))
    assert Nightly(THREE, UTC, first, lambda d: ran.append(d.day), now=clock).tick() is not None
    first.close()
    clock.now = utc("2026-12-07T03:20:00")  # the bridge restarted (even mid-run): a new process, same store
    again = Store(tmp_path / "bridge.sqlite3")
    assert Nightly(THREE, UTC, again, lambda d: ran.append(d.day), now=clock).tick() is None
    again.close()
    assert ran == [date(2026, 12, 7)]


def test_a_run_that_raises_still_counts_as_that_days_run(store: Store) -> None:
    store.set_last_day(SCHEDULE_NAME, date(2026, 12, 6))
    clock = Clock(utc("2026-12-07T03:00:00"))

    def boom(_: object) -> None:
        raise RuntimeError("the swarm fell over")

    nightly = Nightly(THREE, UTC, store, boom, now=clock)
    with pytest.raises(RuntimeError):
        nightly.tick()
    assert store.last_day(SCHEDULE_NAME) == date(2026, 12, 7) and nightly.tick() is None


def test_a_night_missed_while_down_runs_once_on_return_and_the_log_says_so(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    store.set_last_day(SCHEDULE_NAME, date(2026, 12, 6))
    clock, ran = Clock(utc("2026-12-09T11:42:00")), []  # down from the 6th to the 9th
    nightly = Nightly(THREE, UTC, store, lambda d: ran.append(d.day), now=clock)
    with caplog.at_level(logging.INFO, logger="cc-ci.bridge"):
        assert nightly.tick() is not None
        assert nightly.tick() is None
    assert ran == [date(2026, 12, 9)]
    assert ("nightly: the catalogue run due at 2026-12-09 03:00 UTC was missed (the bridge was down, or the "
            "previous catalogue run was still running); running it once now") in caplog.messages


# config: refused at start and at --check, one line, exit 2


def _write_config(tmp_path: Path, nightly: dict[str, Any], **extra: Any) -> Path:
    fake = FakeRuns(tmp_path / "fake.jsonl", tmp_path / "hold", tmp_path / "runs")
    data = config_data(tmp_path, "http://127.0.0.1:9", fake, nightly=nightly, **extra)
    path = tmp_path / "bridge.yml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(("nightly", "message"), [
    ({"catalogue": "nightly.yml", "at": "25:00"},
     "nightly.at: '25:00' is not a time of day; write HH:MM, 00:00 to 23:59"),
    ({"catalogue": "nightly.yml", "at": "3am"}, "nightly.at: '3am' is not a time of day"),
    ({"catalogue": "missing.yml", "at": "03:00"},
     "nightly.catalogue: {dir}/missing.yml: cannot read the catalogue (No such file or directory)"),
    ({"catalogue": "bad.yml", "at": "03:00"}, "nightly.catalogue: {dir}/bad.yml: recipes[0]"),
    ({"catalogue": "nightly.yml", "at": "03:00", "timezone": "Mars/Olympus"},
     "nightly.timezone: 'Mars/Olympus' is not a time zone this host knows"),
    ({"catalogue": "nightly.yml", "at": "03:00", "tracking_issues": {"other/repo": 3}},
     "nightly.tracking_issues: other/repo is not an enrolled repo"),
], ids=["hour-25", "not-hh-mm", "missing-file", "invalid-file", "unknown-zone", "untracked-repo"])
def test_a_bad_nightly_is_one_line_and_exit_2_at_check_and_start(
        tmp_path: Path, nightly: dict[str, Any], message: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "nightly.yml").write_text("recipes:\n  - name: alpha\n")
    (tmp_path / "bad.yml").write_text("recipes:\n  - name: Not_A_Name\n")
    path = _write_config(tmp_path, nightly)
    expected = message.format(dir=tmp_path)
    with pytest.raises(BadInput) as raised:
        load_config(path)
    assert expected in str(raised.value) and "\n" not in str(raised.value)
    monkeypatch.setenv("BRIDGE_TEST_SECRET_FORGE", "x" * 8)
    monkeypatch.setenv("BRIDGE_TEST_SECRET_WEBHOOK", "y" * 8)
    for argv in (["bridge", "--config", str(path), "--check"], ["bridge", "--config", str(path)]):
        assert cli_main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and expected in err, err


def test_nightly_with_a_run_user_is_refused_pointing_at_the_timer(tmp_path: Path) -> None:
    (tmp_path / "nightly.yml").write_text("recipes:\n  - name: alpha\n")
    path = _write_config(tmp_path, {"catalogue": "nightly.yml", "at": "03:00"},
                         executor={"kind": "local", "run_user": "nobody"})
    with pytest.raises(BadInput, match=r"nightly: not with executor.run_user .*deploy/systemd/cc-ci-catalogue.timer"):
        load_config(path)


def test_the_catalogue_path_is_the_configs_folders_and_utc_is_the_default(tmp_path: Path) -> None:
    (tmp_path / "nightly.yml").write_text("recipes:\n  - name: alpha\n")
    cfg = load_config(_write_config(tmp_path, {"catalogue": "nightly.yml", "at": "03:00"}))
    assert cfg.nightly is not None and cfg.nightly.catalogue == tmp_path / "nightly.yml"
    assert cfg.nightly.zone is UTC and cfg.nightly.at_time == THREE


# one night through a real Bridge: the local executor's command, the history, the reports


def test_a_night_through_the_bridge_records_in_the_history_and_reports_a_regression(
        tmp_path: Path, forge: StandinForge, fake_runs: FakeRuns, bridge_env: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    hook = Hook()
    history = tmp_path / "catalogue.sqlite"
    catalogue = tmp_path / "nightly.yml"
    catalogue.write_text(f"stages: install\nreport: {{webhook: '{hook.url}'}}\n"
                         "recipes:\n  - {name: custom-html-tiny, ref: main}\n")
    data = config_data(tmp_path, forge.url, fake_runs, catalogue_history=str(history),
                       nightly={"catalogue": str(catalogue), "at": "03:00", "retry": False, "bisect": False,
                                "tracking_issues": {REPO: 7}})
    cfg = BridgeConfig.model_validate(data)
    clock = Clock(utc("2026-12-06T12:00:00"))
    bridge = Bridge(cfg, load_secrets(cfg), clock=clock)
    try:
        assert bridge.nightly is not None and bridge.nightly.tick() is None  # first start: the baseline
        monkeypatch.setenv("FAKE_RUN_LEVEL", "1")
        clock.now = utc("2026-12-07T03:00:05")
        assert bridge.nightly.tick() is not None
        monkeypatch.setenv("FAKE_RUN_LEVEL", "0")
        monkeypatch.setenv("FAKE_RUN_VERDICT", "fail")
        clock.now = utc("2026-12-08T03:00:05")
        assert bridge.nightly.tick() is not None
    finally:
        bridge.stop()
        hook.close()
    # each recipe one ordinary run, started with the executor's command into its runs dir
    runs = fake_runs.invocations()
    assert [(r["RECIPE"], r["REF"], r["STAGES"], r["CCCI_RUNS_DIR"]) for r in runs] == \
        [("custom-html-tiny", "main", "install", str(fake_runs.runs_dir))] * 2
    # the bridge's secrets do not reach the catalogue's runs
    assert not {"BRIDGE_TEST_SECRET_FORGE", "BRIDGE_TEST_SECRET_WEBHOOK"} & set(runs[0]["leaked_env"])
    found = History(history)
    try:
        rows = [row for _, row in found.recipe_history("custom-html-tiny")]
    finally:
        found.close()
    assert [(row.level, row.verdict, row.change) for row in rows] == [(0, "fail", "regressed L1→L0"),
                                                                      (1, "pass", "new")]
    (comment,) = forge.bot_comments(REPO, 7)
    assert "`custom-html-tiny` **regressed L1→L0**" in comment["body"]
    assert "<!-- cc-ci catalogue 2026-12-08 run 2 custom-html-tiny -->" in comment["body"]
    (posted,) = hook.posts
    assert posted["catalogue_run"] == 2 and posted["regressions"][0]["recipe"] == "custom-html-tiny"


def test_the_bridge_without_nightly_has_no_schedule(tmp_path: Path, forge: StandinForge, fake_runs: FakeRuns,
                                                     bridge_env: None) -> None:
    cfg = BridgeConfig.model_validate(config_data(tmp_path, forge.url, fake_runs))
    bridge = Bridge(cfg, load_secrets(cfg))
    try:
        assert bridge.nightly is None
    finally:
        bridge.stop()


def test_the_nightly_is_opt_in_and_the_shipped_example_has_none() -> None:
    example = Path(__file__).resolve().parents[3] / "deploy/systemd/bridge.yml.example"
    assert BridgeConfig.model_validate(yaml.safe_load(example.read_text())).nightly is None
