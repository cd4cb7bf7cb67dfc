"""Stopping the bridge with SIGTERM (systemd, `docker stop`) or SIGINT drains it: comments it
accepted are evaluated and the replies they earn reach the PR before the process exits."""

from __future__ import annotations

import signal

import pytest

from runner.bridge.reporting import reply_marker
from tests.unit.bridge.support import REPO


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_drains_the_replies_and_logs_the_stop(bridge_proc, standin_forge, sig):
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
