"""A remote swarm manager over SSH (`CCCI_DOCKER_HOST=ssh://user@host[:port]`), with paramiko.

One link per run, shared by everything (`runner/targets/sshlink.py`: as many connections as its
channels need under the server's MaxSessions, reconnected within a bound when lost): the docker
SDK's requests ride on its session channels, the docker CLI (`docker stack deploy`) and the tiers'
pytest processes reach it through unix sockets this process forwards over it
(`runner/targets/forward.py`), and HTTP to the app goes through `direct-tcpip` channels to the
container's docker_gwbridge address on the remote node: no port is published, the recipe is
unchanged. The host key is checked against a known_hosts file; an unknown or changed key is
refused before anything is deployed.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import shlex
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import docker
import httpx
import paramiko
import requests
import urllib3
from docker.transport.basehttpadapter import BaseHTTPAdapter

from runner.errors import BadInput, InfraError
from runner.plumbing.proc import ExecResult
from runner.targets.base import DockerTarget, counting_waits
from runner.targets.forward import Forwarder
from runner.targets.sshlink import RECONNECT_S, SshLink, Unreachable
from runner.targets.tunnel import channel_transport

if TYPE_CHECKING:
    from runner.run.config import TargetSettings

CONNECT_TIMEOUT_S = 10.0
DOCKER_API_TIMEOUT_S = 60
SDK_POOL_SIZE = 8  # idle keep-alive channels the run's own docker client keeps (teardown lists with 8 threads)
_SSH_URL = re.compile(r"^ssh://(?P<user>[A-Za-z0-9._-]+)@(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(?P<port>\d{1,5}))?/?$")


@dataclass(frozen=True)
class SshAddress:
    user: str
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> SshAddress:
        """`ssh://user@host[:port]`; anything else is bad input naming the form expected."""
        found = _SSH_URL.match(url.strip())
        if not found or not 0 < int(found["port"] or 22) < 65536:
            raise BadInput(f"CCCI_DOCKER_HOST: {url!r} is neither `local` nor ssh://user@host[:port]")
        return cls(found["user"], found["host"].strip("[]"), int(found["port"] or 22))

    @property
    def known_hosts_name(self) -> str:
        """How known_hosts names this host: `host`, or `[host]:port` off port 22."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    def __str__(self) -> str:
        return f"ssh://{self.user}@{self.host}:{self.port}"


class _Refuse(paramiko.MissingHostKeyPolicy):
    """An unknown host key is refused with its fingerprint, never added."""

    def __init__(self, known_hosts: Path) -> None:
        self.known_hosts = known_hosts

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise BadInput(f"CCCI_DOCKER_HOST: ssh host {hostname} is not in {self.known_hosts} (it offered "
                       f"{key.get_name()} {key.fingerprint}); check that fingerprint on the host, then add "
                       "its key to that file (CCCI_SSH_KNOWN_HOSTS); refused, nothing deployed")


# paramiko's threads log what fails in them (a refused channel, a reset during the banner) as
# ERRORs with tracebacks on stderr; the link gets each as an exception and handles or reports it
logging.getLogger("paramiko").setLevel(logging.CRITICAL)


class SshConnection:
    """The run's SSH connections to one address (`runner/targets/sshlink.py`): made here, with the
    host-key check and the identity; sessions kept under the server's limit; a lost link
    reconnected within a bound, past which the use raises InfraError naming it."""

    def __init__(self, address: SshAddress, known_hosts: Path, key: Path | None,
                 reconnect_s: float = RECONNECT_S) -> None:
        self.address, self.known_hosts, self.key = address, known_hosts, key
        self.link = SshLink(str(address), lambda: self._connect(first=False), reconnect_s=reconnect_s)

    def open(self) -> None:
        """The first connection: every refusal here is bad input (exit 2), said in one line."""
        self.link.add(self._connect(first=True))

    @property
    def connects(self) -> int:
        """How many connections were made: 1 for a run that never lost its link nor needed another."""
        return self.link.connects

    def _connect(self, first: bool) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        if self.known_hosts.is_file():
            client.load_host_keys(str(self.known_hosts))
        client.set_missing_host_key_policy(_Refuse(self.known_hosts))
        where = str(self.address)
        try:
            client.connect(self.address.host, port=self.address.port, username=self.address.user,
                           key_filename=str(self.key) if self.key else None,
                           look_for_keys=self.key is None, allow_agent=self.key is None,
                           timeout=CONNECT_TIMEOUT_S, banner_timeout=CONNECT_TIMEOUT_S,
                           auth_timeout=CONNECT_TIMEOUT_S)
        except BadInput as refused:
            client.close()
            if first:
                raise
            raise InfraError(str(refused).removeprefix("CCCI_DOCKER_HOST: ")) from None
        except paramiko.BadHostKeyException as err:
            client.close()
            raise self._problem(first, f"ssh host {self.address.known_hosts_name} offered {err.key.get_name()} "
                                f"{err.key.fingerprint}, but {self.known_hosts} has {err.expected_key.fingerprint} "
                                "for it: the host key changed; refused, nothing deployed (if the host was "
                                f"rebuilt, replace its line in {self.known_hosts})") from None
        except paramiko.AuthenticationException as err:
            client.close()
            who = f"the key {self.key} (CCCI_SSH_KEY)" if self.key else "the keys in ~/.ssh and the agent"
            raise self._problem(first, f"{where} refused {who}: {err}; refused, nothing deployed") from None
        except (OSError, paramiko.SSHException, EOFError) as err:
            client.close()
            reason = f"cannot reach {where}: {_reason(err)}"
            if first:
                raise BadInput(f"CCCI_DOCKER_HOST: {reason}") from None
            raise Unreachable(reason) from None  # the link's bounded reconnect tries again
        return client

    def _problem(self, first: bool, message: str) -> Exception:
        if first:
            return BadInput(f"CCCI_DOCKER_HOST: {message}")
        return InfraError(f"the SSH link to {self.address} was lost and reconnecting was refused: {message}")

    def exec_channel(self, command: str) -> paramiko.Channel:
        return self.link.exec_channel(command)

    def tcp_channel(self, host: str, port: int, timeout: float | None) -> paramiko.Channel:
        """A `direct-tcpip` channel: the remote sshd connects to host:port from the remote node."""
        return self.link.tcp_channel(host, port, timeout)

    def close(self) -> None:
        self.link.close()


def _reason(err: BaseException) -> str:
    """Why a connection failed, in the socket's words (`Connection refused`, `timed out`)."""
    if isinstance(err, paramiko.ssh_exception.NoValidConnectionsError):
        return "; ".join(sorted({getattr(e, "strerror", None) or str(e) for e in err.errors.values()}))
    return str(err) or type(err).__name__


class _LinkHTTPConnection(urllib3.connection.HTTPConnection):
    """One HTTP connection to the engine: a session channel running `docker system dial-stdio`."""

    def __init__(self, connection: SshConnection, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._connection = connection

    def connect(self) -> None:
        channel = self._connection.exec_channel("docker system dial-stdio")
        channel.settimeout(self.timeout)
        self.sock = channel


class _LinkPool(urllib3.connectionpool.HTTPConnectionPool):
    """The docker SDK's connections, each a channel of the run's link."""

    def __init__(self, connection: SshConnection, timeout: float, maxsize: int) -> None:
        super().__init__("localhost", timeout=timeout, maxsize=maxsize)
        self._connection = connection

    def _new_conn(self) -> urllib3.connection.HTTPConnection:
        return _LinkHTTPConnection(self._connection, DOCKER_API_TIMEOUT_S)

    def _get_conn(self, timeout: float | None = None) -> urllib3.connection.HTTPConnection:
        # as the docker SDK's own SSH pool: no fileno() probe (paramiko makes a pipe per channel for
        # it); a pooled connection whose channel closed (its link was lost) connects again on use
        try:
            conn = self.pool.get(block=False) if self.pool is not None else None
        except queue.Empty:
            conn = None
        if self.pool is None:
            raise urllib3.exceptions.ClosedPoolError(self, "Pool is closed.")
        if conn is not None and conn.sock is not None and (conn.sock.closed or not conn.sock.get_transport().is_active()):
            conn.close()
        return conn or self._new_conn()


# POSTs that change nothing the run relies on when sent twice: creating an exec instance (a
# second one is never started)
_RETRY_SAFE_POST = re.compile(r"/containers/[^/]+/exec$")


class _LinkRetry(urllib3.util.Retry):
    """An idempotent request that lost its channel (the link dropped, the engine restarted) is
    sent again once the link is back, and so is a retry-safe POST; any other POST may have taken
    effect, so it is not: it fails saying which link broke."""

    def increment(self, method: str | None = None, url: str | None = None, response: Any = None,
                  error: Exception | None = None, _pool: Any = None, _stacktrace: Any = None) -> Self:
        if method == "POST" and url and _RETRY_SAFE_POST.search(urllib.parse.urlsplit(url).path):
            method = "GET"
        return super().increment(method, url, response, error, _pool, _stacktrace)

    def _is_read_error(self, err: Exception) -> bool:
        # A lost channel (ProtocolError) is sent again; a read that timed out is an engine that is
        # slow, not a lost link: six more waits of the API timeout would hold teardown for minutes.
        return isinstance(err, urllib3.exceptions.ProtocolError)


# waits of 0, 1, 2, 4, 8, 8 s: an engine that restarts (`docker system dial-stdio` there fails
# at once) has about 20 s to answer again; a lost link is waited for by the link itself
_RETRIES = _LinkRetry(total=6, connect=6, read=6, status=0, other=0, backoff_factor=0.5, backoff_max=8,
                      raise_on_status=False, raise_on_redirect=False)


class _LinkAdapter(BaseHTTPAdapter):
    """The docker SDK's transport over the run's link (its host-key check, identity, session limit
    and bounded reconnect), in place of the SDK's own paramiko transport."""

    def __init__(self, connection: SshConnection) -> None:
        super().__init__(max_retries=_RETRIES)
        self._connection = connection
        self._pool = _LinkPool(connection, DOCKER_API_TIMEOUT_S, maxsize=SDK_POOL_SIZE)

    def get_connection(self, url: Any, proxies: Any = None) -> Any:
        return self._pool

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().send(request, *args, **kwargs)
        except requests.exceptions.ConnectionError as err:
            path = urllib.parse.urlsplit(request.url).path
            raise requests.exceptions.ConnectionError(
                f"the SSH link to {self._connection.address} or the engine behind it went away during "
                f"{request.method} {path}: {err}",
                request=request) from err

    def close(self) -> None:
        self._pool.close()  # the link is the target's to close


_SSH_BASE_URL = "http+docker://ssh"  # docker-py's base URL of an ssh:// engine
_UNUSED_ADDRESS = "127.0.0.1:9"  # never dialled: every request goes to _SSH_BASE_URL's adapter


def _docker_client(connection: SshConnection) -> docker.DockerClient:
    """The SDK client over the run's link: built for a placeholder TCP address, which opens
    nothing until used (not docker-py's own ssh:// transport, which a run does not import:
    runner/__init__.py), then given the link's adapter and docker-py's ssh:// base URL, as its
    ssh:// transport has them, before its first request."""
    client = docker.DockerClient(base_url=f"tcp://{_UNUSED_ADDRESS}", version=docker.constants.DEFAULT_DOCKER_API_VERSION,
                                 timeout=DOCKER_API_TIMEOUT_S)
    api = client.api
    adapter = _LinkAdapter(connection)
    api._custom_adapter = adapter
    api.mount(_SSH_BASE_URL, adapter)
    api.base_url = _SSH_BASE_URL  # what docker-py's streams (attach, exec) look for to find the channel
    api._version = api._retrieve_server_version()  # negotiated, as version="auto" would
    return client


class SshTarget(DockerTarget):
    name = "ssh"

    def __init__(self, url: str, known_hosts: Path, key: Path | None, reconnect_s: float = RECONNECT_S) -> None:
        self.ssh = SshAddress.parse(url)
        self.address = str(self.ssh)
        self.connection = SshConnection(self.ssh, known_hosts, key, reconnect_s)
        self.connection.open()
        try:
            self._client = counting_waits(_docker_client(self.connection))
        except docker.errors.DockerException as err:
            self.connection.close()
            raise BadInput(f"CCCI_DOCKER_HOST: {self.address} answers SSH, but `docker system dial-stdio` "
                           f"there does not reach an engine: {err}") from None
        self.forwarder = Forwarder(self.connection)

    @classmethod
    def open(cls, settings: TargetSettings) -> SshTarget:
        return cls(settings.docker_host, settings.ssh_known_hosts, settings.ssh_key, reconnect_s=settings.ssh_reconnect_s)

    @property
    def client(self) -> docker.DockerClient:
        return self._client

    def host_env(self) -> dict[str, str]:
        return {"DOCKER_HOST": f"unix://{self.forwarder.docker_socket}"}

    def http_transport(self) -> httpx.BaseTransport:
        return channel_transport(lambda host, port, timeout: self.connection.tcp_channel(host, port, timeout))

    def run_on_node(self, argv: list[str]) -> ExecResult:
        channel = self.connection.exec_channel(shlex.join(argv))
        with channel:
            out, err = channel.makefile("rb").read(), channel.makefile_stderr("rb").read()
            code = channel.recv_exit_status()
        return ExecResult(code, out.decode(errors="replace"), err.decode(errors="replace"))

    def description(self) -> dict[str, Any]:
        return {"kind": "forwarded", "address": self.address, "forward_dir": str(self.forwarder.directory)}

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.close()
        self.forwarder.close()
        self.connection.close()


