"""A remote swarm manager over SSH (`CCCI_DOCKER_HOST=ssh://user@host[:port]`), with paramiko.

One SSH connection per run, reused by everything: the docker SDK's paramiko transport rides on
it, the docker CLI (`docker stack deploy`) and the tiers' pytest processes reach it through unix
sockets this process forwards over it (`runner/targets/forward.py`), and HTTP to the app goes
through `direct-tcpip` channels to the container's docker_gwbridge address on the remote node:
no port is published, the recipe is unchanged. The host key is checked against a known_hosts
file; an unknown or changed key is refused before anything is deployed.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import httpx
import paramiko
from docker.transport import SSHHTTPAdapter

from runner.errors import BadInput, InfraError
from runner.harness.proc import ExecResult
from runner.targets.base import DockerTarget
from runner.targets.forward import Forwarder
from runner.targets.tunnel import channel_transport

CONNECT_TIMEOUT_S = 10.0
DOCKER_API_TIMEOUT_S = 60
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


class SshConnection:
    """The run's one SSH connection. A dropped one is reconnected once, on its next use; when
    that fails too, the use raises InfraError with the reason."""

    def __init__(self, address: SshAddress, known_hosts: Path, key: Path | None) -> None:
        self.address, self.known_hosts, self.key = address, known_hosts, key
        self._lock = threading.Lock()
        self._client: paramiko.SSHClient | None = None
        self.connects = 0  # how many times it connected: 1 for a run whose connection never dropped

    def open(self) -> None:
        """The first connection: every refusal here is bad input (exit 2), said in one line."""
        with self._lock:
            self._client = self._connect(first=True)

    def transport(self) -> paramiko.Transport:
        with self._lock:
            live = self._client.get_transport() if self._client else None
            if live is not None and live.is_active():
                return live
            if self._client is not None:
                self._client.close()
            self._client = self._connect(first=False)  # once; a failure is the op's error
            transport = self._client.get_transport()
            assert transport is not None
            return transport

    @property
    def client(self) -> paramiko.SSHClient:
        self.transport()
        assert self._client is not None
        return self._client

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
            reason = _reason(err)
            raise self._problem(first, f"cannot reach {where}: {reason}") from None
        self.connects += 1
        return client

    def _problem(self, first: bool, message: str) -> Exception:
        if first:
            return BadInput(f"CCCI_DOCKER_HOST: {message}")
        return InfraError(f"the SSH connection to {self.address} dropped and reconnecting failed: {message}")

    def exec_channel(self, command: str) -> paramiko.Channel:
        channel = self.transport().open_session(timeout=CONNECT_TIMEOUT_S)
        channel.exec_command(command)
        return channel

    def tcp_channel(self, host: str, port: int, timeout: float | None) -> paramiko.Channel:
        """A `direct-tcpip` channel: the remote sshd connects to host:port from the remote node."""
        return self.transport().open_channel("direct-tcpip", (host, port), ("127.0.0.1", 0),
                                             timeout=timeout or CONNECT_TIMEOUT_S)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
            self._client = None


def _reason(err: BaseException) -> str:
    """Why a connection failed, in the socket's words (`Connection refused`, `timed out`)."""
    if isinstance(err, paramiko.ssh_exception.NoValidConnectionsError):
        return "; ".join(sorted({getattr(e, "strerror", None) or str(e) for e in err.errors.values()}))
    return str(err) or type(err).__name__


class _RunConnectionAdapter(SSHHTTPAdapter):
    """The docker SDK's paramiko transport (`SSHHTTPAdapter`, `use_ssh_client=False`'s), on the
    run's own connection: its host-key check, its identity, its reconnect-once."""

    def __init__(self, connection: SshConnection, base_url: str) -> None:
        self._connection = connection
        super().__init__(base_url, timeout=DOCKER_API_TIMEOUT_S, shell_out=False)

    def _create_paramiko_client(self, base_url: str) -> None:
        self.ssh_client = self._connection.client
        self.ssh_params: dict[str, Any] = {}

    def _connect(self) -> None:
        pass

    def get_connection(self, url: Any, proxies: Any = None) -> Any:
        transport = self._connection.transport()  # reconnects a dropped connection (once)
        with self.pools.lock:
            pool = self.pools.get(url)
            if pool is not None and pool.ssh_transport is not transport:
                self.pools.clear()  # its channels belonged to the dropped connection
        self.ssh_client = self._connection.client
        return super().get_connection(url, proxies)

    def close(self) -> None:
        self.pools.clear()  # the connection is the target's to close


def _docker_client(connection: SshConnection, address: SshAddress) -> docker.DockerClient:
    """The SDK client over the run's connection. Built with the shell-out transport, which opens
    nothing until used, then given the paramiko adapter before its first request."""
    base_url = f"ssh://{address.user}@{address.host}:{address.port}"
    client = docker.DockerClient(base_url=base_url, version=docker.constants.DEFAULT_DOCKER_API_VERSION,
                                 use_ssh_client=True, timeout=DOCKER_API_TIMEOUT_S)
    api = client.api
    adapter = _RunConnectionAdapter(connection, base_url)
    api._custom_adapter = adapter
    api.mount("http+docker://ssh", adapter)
    api._version = api._retrieve_server_version()  # negotiated, as version="auto" would
    return client


class SshTarget(DockerTarget):
    name = "ssh"

    def __init__(self, url: str, known_hosts: Path, key: Path | None) -> None:
        self.ssh = SshAddress.parse(url)
        self.address = str(self.ssh)
        self.connection = SshConnection(self.ssh, known_hosts, key)
        self.connection.open()
        try:
            self._client = _docker_client(self.connection, self.ssh)
        except docker.errors.DockerException as err:
            self.connection.close()
            raise BadInput(f"CCCI_DOCKER_HOST: {self.address} answers SSH, but `docker system dial-stdio` "
                           f"there does not reach an engine: {err}") from None
        self.forwarder = Forwarder(self.connection)

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


