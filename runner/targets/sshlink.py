"""The run's SSH link to the swarm manager: as many SSH connections as its channels need, each kept
under the server's session limit, and reconnected within a bound when lost.

A session channel (an exec: `docker system dial-stdio`, a host command) is what OpenSSH limits per
connection (`MaxSessions`, 10 by default; the 11th is refused "Connect failed"). A run holds more at
once: the docker SDK's pool, the CLI, each tier's pytest process, teardown's parallel listings. So a
connection carries at most `per_connection` sessions; more open a further connection, up to
`max_connections`; past that a session waits for a free one. A refusal anyway (a server with a
lower limit, or one still counting a session we just closed while its command exits) rests that
connection a moment and takes another. `direct-tcpip` channels (HTTP to the app) are not sessions:
MaxSessions does not count them, any live connection carries them.

A lost link (the server restarted, the network cut) is reconnected on its next use, the attempts
spaced by a doubling backoff within `reconnect_s`; past that the use raises InfraError naming the
link and why. Callers that waited while one attempt ran share its outcome: an outage costs one
bound, not one per thread. Refusals that no retry mends (host key, identity) are not retried.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import paramiko

from runner.errors import InfraError

SESSIONS_PER_CONNECTION = 8  # under OpenSSH's default MaxSessions (10): room for one still closing
MAX_CONNECTIONS = 8  # 64 sessions; one at a time is ever unauthenticated (MaxStartups 10:30:100)
RECONNECT_S = 60.0  # how long a lost link is tried again before a use fails
SESSION_WAIT_S = 120.0  # how long a session waits for a free slot, or for refusals to pass
REST_S = 1.0  # a connection that refused a session is not asked again for this long
CHANNEL_TIMEOUT_S = 10.0


class Unreachable(Exception):
    """A connection attempt that may succeed later (refused, timed out, reset): worth retrying."""


class SshClient(Protocol):
    """What the link needs of a connected paramiko.SSHClient."""

    def get_transport(self) -> paramiko.Transport | None: ...
    def close(self) -> None: ...


Connector = Callable[[], SshClient]  # connects once; raises Unreachable, or a final error


def backoff_delays(bound_s: float, first_s: float = 0.25, factor: float = 2.0, cap_s: float = 8.0) -> Iterator[float]:
    """The waits between attempts: doubling from `first_s`, each at most `cap_s`, all together
    at most `bound_s` (the last one shortened to fit)."""
    spent, delay = 0.0, first_s
    while spent < bound_s:
        step = min(delay, cap_s, bound_s - spent)
        yield step
        spent += step
        delay *= factor


Choice = int | Literal["new", "wait"]


def choose(loads: Sequence[tuple[int, bool]], per_connection: int, max_connections: int) -> Choice:
    """Where the next session goes. `loads`: per live connection, its sessions in use and whether it
    is resting (it refused one a moment ago). The least loaded one with room; else a new connection
    while there are fewer than `max_connections`; else wait for a session to close."""
    room = [(used, i) for i, (used, resting) in enumerate(loads) if used < per_connection and not resting]
    if room:
        return min(room)[1]
    return "new" if len(loads) < max_connections else "wait"


@dataclass
class _Connection:
    client: SshClient
    sessions: list[paramiko.Channel] = field(default_factory=list)
    opening: int = 0  # sessions being opened on it right now (their slots are taken)
    opened_any: bool = False  # it gave us a session once: a refusal is a limit, not sessions being off
    rests_until: float = 0.0

    def transport(self) -> paramiko.Transport | None:
        transport = self.client.get_transport()
        return transport if transport is not None and transport.is_active() else None

    def load(self) -> int:
        self.sessions = [c for c in self.sessions if not c.closed]
        return len(self.sessions) + self.opening


def _started(channel: paramiko.Channel, command: str) -> bool:
    """`command` started on the session; False (the session closed) when its connection died
    under it: the caller's next round finds another."""
    try:
        channel.exec_command(command)
    except (paramiko.SSHException, OSError, EOFError):
        channel.close()
        return False
    return True


class SshLink:
    """The connections of one run to one `ssh://` address (`name`); `connect` makes one."""

    def __init__(self, name: str, connect: Connector, *, per_connection: int = SESSIONS_PER_CONNECTION,
                 max_connections: int = MAX_CONNECTIONS, reconnect_s: float = RECONNECT_S,
                 session_wait_s: float = SESSION_WAIT_S, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.name, self._connect = name, connect
        self.per_connection, self.max_connections = per_connection, max_connections
        self.reconnect_s, self.session_wait_s = reconnect_s, session_wait_s
        self._clock, self._sleep = clock, sleep
        self._state = threading.Condition()
        self._growing = threading.Lock()  # one connection attempt at a time
        self._connections: list[_Connection] = []
        self._failures = 0  # bounded reconnects that gave up
        self._last_failure: InfraError | None = None
        self._closed = False
        self.connects = 0  # how many connections were made: 1 for a run that never needed another

    def add(self, client: SshClient) -> None:
        """A connection made by the caller (the first one, whose refusals are its own to word)."""
        with self._state:
            self._connections.append(_Connection(client))
            self.connects += 1

    # -- channels ------------------------------------------------------------------------------

    def exec_channel(self, command: str) -> paramiko.Channel:
        """A session channel running `command` on the host, on a connection with room for it."""
        deadline = self._clock() + self.session_wait_s
        while True:
            connection = self._reserve(deadline)  # raises once `deadline` passes
            try:
                # The slot stays taken until the session is counted among the connection's own:
                # while its command starts (a round trip) it is open on the server all the same.
                channel = self._open_session(connection)
                if channel is not None and _started(channel, command):
                    with self._state:
                        connection.sessions.append(channel)
                        connection.opened_any = True
                    return channel
            finally:
                with self._state:
                    connection.opening -= 1
                    self._state.notify_all()

    def _open_session(self, connection: _Connection) -> paramiko.Channel | None:
        """The session, or None when this connection cannot give it now (refused, or died)."""
        transport = connection.transport()
        if transport is None:
            return None
        try:
            return transport.open_session(timeout=CHANNEL_TIMEOUT_S)
        except paramiko.ChannelException as refused:
            with self._state:
                if not connection.opened_any and not connection.load() > 1:  # sessions are off there
                    raise InfraError(f"{self.name} refuses every session channel ({refused.text}): cc-ci "
                                     "needs exec sessions over SSH (is MaxSessions 0 in its sshd_config?)") from None
                connection.rests_until = self._clock() + REST_S
            return None
        except (paramiko.SSHException, OSError, EOFError):
            return None

    def tcp_channel(self, host: str, port: int, timeout: float | None) -> paramiko.Channel:
        """A `direct-tcpip` channel: the remote sshd connects to host:port from the remote node.
        Its refusal (nothing listens there) is the caller's to handle, as a ChannelException."""
        for _ in range(3):  # a connection that died between the choice and the open: take another
            transport = self._live_transport()
            try:
                return transport.open_channel("direct-tcpip", (host, port), ("127.0.0.1", 0),
                                              timeout=timeout or CHANNEL_TIMEOUT_S)
            except paramiko.ChannelException:
                raise
            except (paramiko.SSHException, OSError, EOFError):
                if transport.is_active():
                    raise
        raise InfraError(f"the SSH link to {self.name} keeps dropping: no channel to {host}:{port}")

    def _live_transport(self) -> paramiko.Transport:
        while True:
            with self._state:
                if self._closed:
                    raise InfraError(f"the SSH link to {self.name} is closed: the run is over")
                self._drop_dead()
                live = [c.transport() for c in self._connections]
                if transport := next((t for t in live if t is not None), None):
                    return transport
            self._grow(needed=lambda: not self._connections)

    # -- connections ---------------------------------------------------------------------------

    def _reserve(self, deadline: float) -> _Connection:
        """A live connection with a session slot taken for the caller."""
        while True:
            with self._state:
                if self._closed:
                    raise InfraError(f"the SSH link to {self.name} is closed: the run is over")
                if self._clock() >= deadline:
                    raise InfraError(f"no SSH session to {self.name} within {self.session_wait_s:.0f}s: "
                                     f"every session of its {len(self._connections)} connection(s) in use or refused")
                self._drop_dead()
                choice = self._choice()
                if isinstance(choice, int):
                    connection = self._connections[choice]
                    connection.opening += 1
                    return connection
                if choice == "wait":
                    self._state.wait(0.1)  # a session closes without telling us: look again soon
                    continue
            self._grow(needed=lambda: self._choice() == "new")

    def _choice(self) -> Choice:
        now = self._clock()
        return choose([(c.load(), c.rests_until > now) for c in self._connections],
                      self.per_connection, self.max_connections)

    def _drop_dead(self) -> None:
        for connection in [c for c in self._connections if c.transport() is None]:
            self._connections.remove(connection)
            connection.client.close()

    def _grow(self, needed: Callable[[], bool]) -> None:
        """One more connection, if still `needed` once it is this thread's turn to connect. A
        bounded reconnect that gave up while this thread waited is this thread's outcome too."""
        failures = self._failures
        with self._growing:
            with self._state:
                if self._failures != failures and self._last_failure is not None:
                    raise self._last_failure
                self._drop_dead()
                if self._closed or not needed():
                    return
            client = self._connect_within_bound()
            with self._state:
                if self._closed:  # the run ended while this connection was being made
                    client.close()
                    return
                self._connections.append(_Connection(client))
                self.connects += 1
                self._state.notify_all()

    def _connect_within_bound(self) -> SshClient:
        started = self._clock()
        attempts, delays = 0, backoff_delays(self.reconnect_s)
        while True:
            attempts += 1
            try:
                return self._connect()
            except Unreachable as err:
                reason = str(err)
            delay = next(delays, None)
            if delay is None or self._clock() + delay - started > self.reconnect_s:
                break
            self._sleep(delay)
        failure = InfraError(f"the SSH link to {self.name} is lost: no connection within {self.reconnect_s:.0f}s "
                             f"({attempts} attempts; last: {reason})")
        with self._state:
            self._failures += 1
            self._last_failure = failure
        raise failure

    def clients(self) -> list[Any]:
        """The connections made and not dropped (a test cuts them)."""
        with self._state:
            return [c.client for c in self._connections]

    def close(self) -> None:
        with self._state:
            self._closed = True
            for connection in self._connections:
                connection.client.close()
            self._connections.clear()
            self._state.notify_all()
