"""The SSH link's decisions, with a fake server: sessions kept under MaxSessions by opening further
connections, a refusal answered with another connection, a lost link tried again within a bound
(once per outage, whatever the number of callers), and refusals no retry mends reported at once."""

from __future__ import annotations

import threading
import time
from typing import Any

import paramiko
import pytest
import urllib3
from hypothesis import given
from hypothesis import strategies as st

from runner.errors import InfraError
from runner.targets.ssh import _RETRIES
from runner.targets.sshlink import SshLink, Unreachable, backoff_delays, choose

# -- pure decisions --------------------------------------------------------------------------------


@given(st.floats(min_value=0, max_value=600), st.floats(min_value=0.01, max_value=5),
       st.floats(min_value=1, max_value=4), st.floats(min_value=0.01, max_value=30))
def test_the_backoff_never_waits_past_its_bound_and_never_shrinks_before_its_cap(
    bound: float, first: float, factor: float, cap: float
) -> None:
    delays = list(backoff_delays(bound, first, factor, cap))
    assert sum(delays) <= bound + 1e-6
    assert all(d > 0 for d in delays) and all(d <= cap for d in delays)
    full = delays[:-1]  # the last one may be shortened to fit the bound
    assert all(later >= earlier or later == cap for earlier, later in zip(full, full[1:], strict=False))
    if bound > 0:
        assert sum(delays) == pytest.approx(bound), "the bound is used up: the link is tried for all of it"


def test_the_backoff_doubles_from_a_quarter_second_up_to_its_cap() -> None:
    assert list(backoff_delays(30)) == [0.25, 0.5, 1, 2, 4, 8, 8, 6.25]


def test_a_session_goes_to_the_least_loaded_connection_with_room() -> None:
    assert choose([(8, False), (3, False), (5, False)], per_connection=8, max_connections=8) == 1
    assert choose([(2, True), (5, False)], per_connection=8, max_connections=8) == 1  # the resting one is skipped


def test_full_connections_open_another_up_to_the_maximum_then_wait() -> None:
    assert choose([], per_connection=8, max_connections=8) == "new"
    assert choose([(8, False), (7, True)], per_connection=8, max_connections=8) == "new"
    assert choose([(8, False), (8, False)], per_connection=8, max_connections=2) == "wait"


@given(st.lists(st.tuples(st.integers(0, 12), st.booleans()), max_size=10), st.integers(1, 10), st.integers(1, 10))
def test_a_chosen_connection_always_has_room_and_new_never_exceeds_the_maximum(
    loads: list[tuple[int, bool]], per_connection: int, max_connections: int
) -> None:
    choice = choose(loads, per_connection, max_connections)
    if isinstance(choice, int):
        used, resting = loads[choice]
        assert used < per_connection and not resting
    elif choice == "new":
        assert len(loads) < max_connections and all(u >= per_connection or r for u, r in loads)
    else:
        assert len(loads) >= max_connections


# -- the link, with a fake sshd ---------------------------------------------------------------------


class FakeChannel:
    def __init__(self) -> None:
        self.closed = False
        self.command = ""

    def exec_command(self, command: str) -> None:
        self.command = command

    def close(self) -> None:
        self.closed = True


class FakeTransport:
    """One connection to an sshd with `max_sessions`: the one past it is refused as OpenSSH does."""

    def __init__(self, server: FakeServer) -> None:
        self.server, self.active, self.sessions = server, True, []  # type: ignore[var-annotated]

    def is_active(self) -> bool:
        return self.active

    def open_session(self, timeout: float | None = None) -> FakeChannel:
        if not self.active:
            raise paramiko.SSHException("SSH session not active")
        open_now = [c for c in self.sessions if not c.closed]
        if len(open_now) + self.server.lingering >= self.server.max_sessions:
            self.server.refusals += 1
            raise paramiko.ChannelException(2, "Connect failed")
        channel = FakeChannel()
        self.sessions.append(channel)
        return channel

    def open_channel(self, kind: str, dest: Any, src: Any, timeout: float | None = None) -> FakeChannel:
        return FakeChannel()


class FakeClient:
    def __init__(self, server: FakeServer) -> None:
        self.transport = FakeTransport(server)

    def get_transport(self) -> FakeTransport:
        return self.transport

    def close(self) -> None:
        self.transport.active = False


class FakeServer:
    def __init__(self, max_sessions: int = 10) -> None:
        self.max_sessions = max_sessions
        self.up = True
        self.lingering = 0  # sessions we closed that it still counts (their command is exiting)
        self.clients: list[FakeClient] = []
        self.attempts = 0
        self.refusals = 0

    def connect(self) -> FakeClient:
        self.attempts += 1
        if not self.up:
            raise Unreachable("cannot reach ssh://root@h:22: Connection refused")
        client = FakeClient(self)
        self.clients.append(client)
        return client

    def cut(self) -> None:
        for client in self.clients:
            client.transport.active = False


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _link(server: FakeServer, clock: Clock | None = None, real_time: bool = False, **kwargs: Any) -> SshLink:
    """A link to the fake server, its first connection made; on a fake clock unless `real_time`."""
    if real_time:
        link = SshLink("ssh://root@h:22", server.connect, **kwargs)
    else:
        clock = clock or Clock()
        link = SshLink("ssh://root@h:22", server.connect, clock=clock, sleep=clock.sleep, **kwargs)
    link.add(server.connect())
    return link


def test_more_sessions_than_max_sessions_are_spread_over_connections_and_never_refused() -> None:
    server = FakeServer(max_sessions=10)
    link = _link(server)
    channels = [link.exec_channel("docker system dial-stdio") for _ in range(20)]
    assert len(server.clients) == 3 and link.connects == 3  # 8 + 8 + 4
    assert all(len(c.transport.sessions) <= 8 for c in server.clients)
    assert server.refusals == 0 and all(c.command == "docker system dial-stdio" for c in channels)


def test_closed_sessions_free_their_slots() -> None:
    server = FakeServer()
    link = _link(server)
    for _ in range(30):
        link.exec_channel("true").close()
    assert len(server.clients) == 1


def test_a_refused_session_rests_its_connection_and_takes_another() -> None:
    """A server with a lower limit, or still counting sessions whose commands are exiting."""
    server = FakeServer(max_sessions=10)
    server.lingering = 5  # 5 + 5 of ours reach its 10
    link = _link(server)
    channels = [link.exec_channel("true") for _ in range(6)]
    assert server.refusals == 1 and len(server.clients) == 2
    assert [len(c.transport.sessions) for c in server.clients] == [5, 1]
    assert all(not c.closed for c in channels)


def test_a_server_that_refuses_every_session_is_reported_not_retried() -> None:
    server = FakeServer(max_sessions=0)
    link = _link(server)
    with pytest.raises(InfraError, match=r"refuses every session channel .*MaxSessions 0"):
        link.exec_channel("true")


def test_past_the_maximum_a_session_waits_for_a_free_one_then_gives_up_naming_the_link() -> None:
    server = FakeServer(max_sessions=2)
    link = _link(server, per_connection=2, max_connections=2, session_wait_s=5, real_time=True)
    held = [link.exec_channel("sleep 60") for _ in range(4)]
    threading.Timer(0.2, held[0].close).start()
    started = time.monotonic()
    assert link.exec_channel("true").command == "true"  # it waited for the one that closed
    assert 0.15 < time.monotonic() - started < 2 and len(server.clients) == 2
    link.session_wait_s = 0.3
    with pytest.raises(InfraError, match=r"no SSH session to ssh://root@h:22 within 0s: every session of its "
                                         r"2 connection\(s\) in use or refused"):
        link.exec_channel("true")


def test_a_lost_link_is_reconnected_on_its_next_use_with_backoff() -> None:
    server, clock = FakeServer(), Clock()
    link = _link(server, clock)
    link.exec_channel("true")
    server.cut()
    server.up = False
    outage_ends = iter([False, False, False, True])  # back on the fourth attempt
    real_connect = server.connect

    def connect() -> FakeClient:
        server.up = next(outage_ends)
        return real_connect()

    link._connect = connect  # type: ignore[method-assign]
    assert link.exec_channel("docker system dial-stdio").command == "docker system dial-stdio"
    assert clock.slept == [0.25, 0.5, 1.0] and link.connects == 2


def test_past_its_bound_the_use_fails_naming_the_lost_link_and_why() -> None:
    server, clock = FakeServer(), Clock()
    link = _link(server, clock, reconnect_s=10)
    server.cut()
    server.up = False
    with pytest.raises(InfraError, match=r"the SSH link to ssh://root@h:22 is lost: no connection within 10s "
                                         r"\(7 attempts; last: cannot reach ssh://root@h:22: Connection refused\)"):
        link.exec_channel("true")
    assert sum(clock.slept) <= 10


def test_callers_waiting_during_an_outage_share_its_one_bounded_attempt() -> None:
    server = FakeServer()
    link = _link(server, reconnect_s=0.5, real_time=True)
    server.cut()
    server.up = False
    errors: list[str] = []

    def use() -> None:
        try:
            link.exec_channel("true")
        except InfraError as err:
            errors.append(str(err))

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(errors) == 8 and len(set(errors)) == 1
    assert server.attempts <= 1 + 3, "one bounded series of attempts (0, 0.25, 0.5 s), not one per caller"


def test_a_refusal_no_retry_mends_is_raised_at_once() -> None:
    server = FakeServer()
    link = _link(server)
    server.cut()

    def refused() -> FakeClient:
        server.attempts += 1
        raise InfraError("the SSH link to ssh://root@h:22 was lost and reconnecting was refused: the host key changed")

    link._connect = refused  # type: ignore[method-assign]
    with pytest.raises(InfraError, match="the host key changed"):
        link.exec_channel("true")
    assert server.attempts == 2  # the first connection, and this one attempt


def test_a_closed_link_opens_nothing_more() -> None:
    server = FakeServer()
    link = _link(server)
    link.close()
    with pytest.raises(InfraError, match="closed: the run is over"):
        link.exec_channel("true")
    with pytest.raises(InfraError, match="closed: the run is over"):
        link.tcp_channel("10.0.0.2", 80, None)
    assert server.attempts == 1


# -- which engine requests are sent again over a new channel ----------------------------------------

LOST = urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError("the link went away"))


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1.41/services"), ("DELETE", "/v1.41/secrets/abc"), ("HEAD", "/_ping"),
    ("POST", "/v1.41/containers/0a1b2c/exec"),  # creating an exec: a second one is never started
])
def test_a_request_that_changes_nothing_when_repeated_is_sent_again_after_a_lost_channel(method: str, path: str) -> None:
    again = _RETRIES.increment(method, f"http+docker://ssh{path}", error=LOST)
    assert again.total == _RETRIES.total - 1  # type: ignore[operator]


@pytest.mark.parametrize("path", ["/v1.41/services/create", "/v1.41/exec/0a1b2c/start",
                                  "/v1.41/services/abc/update", "/v1.41/containers/0a1b2c/exec/start"])
def test_a_request_that_may_have_taken_effect_is_not_sent_again(path: str) -> None:
    with pytest.raises(urllib3.exceptions.ProtocolError):
        _RETRIES.increment("POST", f"http+docker://ssh{path}", error=LOST)


def test_the_retries_wait_about_twenty_seconds_for_an_engine_that_restarts() -> None:
    retry, waits = _RETRIES, []
    for _ in range(6):
        retry = retry.increment("GET", "http+docker://ssh/v1.41/services", error=LOST)
        waits.append(retry.get_backoff_time())
    assert waits == [0, 1, 2, 4, 8, 8]
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        retry.increment("GET", "http+docker://ssh/v1.41/services", error=LOST)


def test_a_read_that_timed_out_is_not_sent_again() -> None:
    # A slow engine, not a lost link: retried six times with the API's 60 s timeout, one hung
    # listing held teardown for minutes past its deadline (found in review).
    timed_out = urllib3.exceptions.ReadTimeoutError(None, "/v1.41/containers/json", "Read timed out.")  # type: ignore[arg-type]
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        _RETRIES.increment("GET", "http+docker://ssh/v1.41/containers/json", error=timed_out)


class SlowStart(FakeChannel):
    """A session whose command takes a round trip to start: other callers come meanwhile."""

    def exec_command(self, command: str) -> None:
        time.sleep(0.05)
        super().exec_command(command)


def test_a_session_whose_command_is_starting_still_counts_against_its_connection() -> None:
    server = FakeServer(max_sessions=10)
    link = _link(server, real_time=True)
    for client in server.clients:
        client.transport.open_session = _slow(client.transport)  # type: ignore[method-assign]
    original_connect = server.connect

    def connect() -> FakeClient:
        client = original_connect()
        client.transport.open_session = _slow(client.transport)  # type: ignore[method-assign]
        return client

    link._connect = connect  # the further connections start slowly too
    threads = [threading.Thread(target=lambda: link.exec_channel("true")) for _ in range(20)]
    for thread in threads:
        thread.start()
        time.sleep(0.005)  # staggered, within one start's round trip
    for thread in threads:
        thread.join()
    peak = max(len([c for c in client.transport.sessions if not c.closed]) for client in server.clients)
    assert server.refusals == 0 and peak <= 8, (peak, server.refusals)


def _slow(transport: FakeTransport) -> Any:
    def open_session(timeout: float | None = None) -> FakeChannel:
        if not transport.active:
            raise paramiko.SSHException("SSH session not active")
        if len([c for c in transport.sessions if not c.closed]) >= transport.server.max_sessions:
            transport.server.refusals += 1
            raise paramiko.ChannelException(2, "Connect failed")
        channel = SlowStart()
        transport.sessions.append(channel)
        return channel
    return open_session
