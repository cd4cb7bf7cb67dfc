"""Stopping the bridge with SIGTERM (systemd, `docker stop`) or SIGINT drains it: comments it
accepted are evaluated and the replies they earn reach the PR before the process exits."""

from __future__ import annotations

import signal

import pytest

from runner.bridge.refusals import reply_marker
from tests.unit.bridge.bridge_standins import StandinForge
from tests.unit.bridge.support import REPO, BridgeProcess, FakeRuns
from tests.unit.test_dashboard import make_run
from tests.unit.test_dashboard_server import GOOD, STOP_WITHIN_S, _stops_within, _stuck_download


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_drains_the_replies_and_logs_the_stop(
    bridge_proc: BridgeProcess, standin_forge: StandinForge, sig: signal.Signals
) -> None:
    standin_forge.delay = 1.0  # a slow forge: the replies are still in flight when the signal comes
    bridge_proc.start()
    comments = [bridge_proc.deliver_comment(standin_forge, 1, f"!testme nope{n}") for n in range(6)]

    assert bridge_proc.proc is not None
    bridge_proc.proc.send_signal(sig)
    code = bridge_proc.proc.wait(timeout=60)

    log = bridge_proc.log.read_text()
    assert code == 0, log
    assert "bridge stopped" in log
    replies = [c["body"] for c in standin_forge.bot_comments(REPO, 1)]
    for comment in comments:
        answering = [body for body in replies if reply_marker(comment["id"]) in body]
        assert len(answering) == 1, (comment["body"], replies)
        assert "is not an option" in answering[0]


def test_the_bridge_stops_within_5s_of_sigterm_with_a_download_stuck(
    bridge_proc: BridgeProcess, fake_runs: FakeRuns
) -> None:
    """A client that never reads a big file it asked for does not hold the bridge's HTTP server."""
    run = make_run(fake_runs.runs_dir, GOOD, recipe="good")
    (run / "logs" / "tier-install.log").write_bytes(b"x" * (32 * 2**20))
    bridge_proc.start()
    sock = _stuck_download(bridge_proc.base, f"/runs/{GOOD}/files/logs/tier-install.log")
    try:
        assert bridge_proc.proc is not None
        _stops_within(bridge_proc.proc, STOP_WITHIN_S)
    finally:
        sock.close()
