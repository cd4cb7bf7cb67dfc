"""The bridge's nightly trigger for real: a bridge that was down at its `nightly.at` comes back,
says the night was missed, and runs the catalogue once (a real install of the bundled
custom-html-tiny on the local swarm, through the local executor's command) into the history."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runner.bridge.nightly.worker import SCHEDULE_NAME
from runner.bridge.service import Bridge, load_secrets
from runner.bridge.store import Store
from runner.catalogue.history import History
from tests.e2e.support import docker_client
from tests.unit.bridge.support import wait_until

pytestmark = pytest.mark.e2e


def test_a_night_missed_while_the_bridge_was_down_runs_once_for_real_when_it_starts(
    tmp_path: Path, bridge_config, caplog: pytest.LogCaptureFixture
):
    catalogue = tmp_path / "nightly.yml"
    catalogue.write_text("stages: install\nrecipes:\n  - name: custom-html-tiny\n")
    history = tmp_path / "catalogue.sqlite"
    cfg = bridge_config("custom-html-tiny", {}).model_copy(update={"catalogue_history": history})
    # its time an hour ago, whatever the hour the suite runs (at 00:00, a run at 00:03 is on time)
    slot = (datetime.now(UTC) - timedelta(hours=1)).replace(second=0, microsecond=0)
    at = slot.strftime("%H:%M")
    cfg = cfg.model_validate(cfg.model_dump() | {"nightly": {"catalogue": str(catalogue), "at": at,
                                                             "retry": False, "bisect": False}})
    today = slot.date()
    store = Store(cfg.db_path)  # the bridge ran the night before, then was down past today's `at`
    store.set_last_day(SCHEDULE_NAME, today - timedelta(days=1))
    store.close()

    bridge = Bridge(cfg, load_secrets(cfg))
    with caplog.at_level(logging.INFO, logger="cc-ci.bridge"):
        bridge.start_in_thread()
        try:
            wait_until(lambda: history.exists() and _finished(history), timeout=600,
                       what="the missed night's catalogue run to finish")
        finally:
            bridge.stop(cancel_runs=True)
    assert any(m.startswith(f"nightly: the catalogue run due at {today} {at} UTC was missed") for m in caplog.messages), \
        caplog.messages
    found = History(history)
    try:
        (row,) = found.matrix(found.latest_run().id)  # type: ignore[union-attr]
        runs = found.recent_runs(5)
    finally:
        found.close()
    assert len(runs) == 1  # once
    assert (row.recipe, row.level, row.verdict, row.change) == ("custom-html-tiny", 1, "pass", "new"), row.error
    assert Path(row.run_dir or "").parent == tmp_path / "runs"  # the local executor's runs dir
    assert Store(cfg.db_path).last_day(SCHEDULE_NAME) == today
    assert _left_by(row.run_id or "") == []  # its app torn down (other suites' objects are not ours)


def _left_by(run_id: str) -> list[str]:
    client = docker_client()
    label = {"label": f"cc-ci.run={run_id}"}
    return [f"{kind} {o.name}" for kind in ("services", "volumes", "secrets", "configs", "networks")
            for o in getattr(client, kind).list(filters=label)] + \
        [f"container {c.name}" for c in client.containers.list(all=True, filters=label)]


def _finished(history: Path) -> bool:
    found = History(history, read_only=True, timeout=2)
    try:
        latest = found.latest_run()
        return latest is not None and latest.finished is not None
    finally:
        found.close()
