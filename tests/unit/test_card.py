"""The summary card is drawn after the verdict by a detached process the run does not wait for;
card.json says whether it is being made, was made, or failed and why."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner.pictures.card import card_state, record_card
from runner.pictures.shots import start_card
from runner.run.rundir import RunDir


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_card_state_reads_made_making_and_failed_from_card_json(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path)
    assert card_state(tmp_path) is None  # pictures off: no card, no record
    record_card(run_dir, "making", pid=dead_pid())
    assert card_state(tmp_path) == "failed"  # its maker died without a word
    record_card(run_dir, "making", pid=os.getpid())
    assert card_state(tmp_path) == "making"
    record_card(run_dir, "made")
    assert card_state(tmp_path) == "failed"  # says made, but there is no card.png
    run_dir.card_png.write_bytes(b"\x89PNG")
    assert card_state(tmp_path) == "made"
    run_dir.card_json.unlink()
    assert card_state(tmp_path) == "made"  # a run dir from before card.json


def test_the_run_does_not_wait_for_the_card_and_its_maker_records_why_it_failed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = RunDir(tmp_path)
    run_dir.logs.mkdir()
    run_dir.results.write_text(json.dumps({"recipe": "demo", "verdict": "pass", "tiers": []}))
    monkeypatch.setenv("CCCI_CHROMIUM", str(tmp_path / "no-such-chromium"))
    started = time.monotonic()
    assert start_card(run_dir) == run_dir.card_png
    assert time.monotonic() - started < 0.5  # a spawn, not a browser
    assert json.loads(run_dir.card_json.read_text())["state"] in ("making", "failed")
    deadline = time.monotonic() + 30
    while card_state(tmp_path) == "making" and time.monotonic() < deadline:
        time.sleep(0.05)
    record = json.loads(run_dir.card_json.read_text())
    assert card_state(tmp_path) == "failed"
    assert record["error"].startswith("InfraError: no Chromium found")
    assert "no summary card" in run_dir.log("card").read_text()

