"""What commenters write reaches the forge API and the bridge's replies and logs only in a
harmless form: path parts are percent-encoded, control characters are stripped."""

from __future__ import annotations

import logging

import pytest

from tests.unit.bridge.bridge_standins import StandinForge
from tests.unit.bridge.support import ORG, REPO, FakeRuns, StartBridge, wait_until


def test_a_login_with_url_syntax_is_checked_as_itself_not_as_a_member(
    start_bridge: StartBridge, fake_runs: FakeRuns, forge: StandinForge
) -> None:
    # Unencoded, `alice?x=1#` was asked as /members/alice (query x=1) and authorised as alice.
    bridge = start_bridge()

    bridge.comment("!testme", login="alice?x=1#")

    assert list(bridge.settle().values()) == ["denied: not authorised"]
    assert bridge.jobs() == []
    asked = [(call.path, call.query) for call in forge.calls_to("GET", "/members/")]
    assert asked == [(f"/api/v1/orgs/{ORG}/members/alice%3Fx=1%23", {})]


def test_control_characters_never_reach_a_reply_or_the_log(
    start_bridge: StartBridge,
    fake_runs: FakeRuns,
    forge: StandinForge,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="cc-ci.bridge")
    bridge = start_bridge(reply_to_unauthorised=True)

    bridge.comment("!testme fo\x00o\x1b[2K")
    bridge.comment("!testme stages=inst\x00all")
    bridge.settle()

    replies = wait_until(
        lambda: len(forge.bot_comments(REPO, 1)) == 2 and forge.bot_comments(REPO, 1),
        what="two replies",
    )
    bodies = sorted(c["body"] for c in replies)
    assert "`foo[2K` is not an option" in bodies[0]
    assert "unknown stage `install`" in bodies[1]
    for text in [*bodies, caplog.text]:
        assert "\x00" not in text and "\x1b" not in text
