"""The run's SSH connection, shared with what cannot hold it: the docker CLI and the tiers'
pytest processes. Two unix sockets in a private directory, served by threads of the run's process:

- `docker.sock`: each connection is a channel running `docker system dial-stdio` on the remote
  host (as the docker CLI's own ssh:// does), so `DOCKER_HOST=unix://…/docker.sock` is the engine;
- `tcp.sock`: a connection starts with one line `<host> <port>\\n`, answered `ok\\n` once a
  `direct-tcpip` channel to it is open (else `error <reason>\\n`); then it is that channel.

A tier process attaches as `ForwardedTarget`: no SSH of its own, no second host-key check.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import docker
import httpx

from runner.errors import InfraError
from runner.targets.base import DockerTarget, counting_waits
from runner.targets.tunnel import Stream, channel_transport

if TYPE_CHECKING:
    import paramiko


class Channels(Protocol):
    """What the forwarder needs of the run's SSH connection (`runner/targets/ssh.py`)."""

    def exec_channel(self, command: str) -> paramiko.Channel: ...
    def tcp_channel(self, host: str, port: int, timeout: float | None) -> paramiko.Channel: ...

_CHUNK = 1 << 16


def _splice(sock: socket.socket, channel: paramiko.Channel) -> None:
    """Copy both ways; an end that finishes sending half-closes the other (the docker CLI
    half-closes after an exec's stdin), and both are closed once both directions are done."""
    done = threading.Barrier(2, action=lambda: _close(sock, channel))

    def pump(source: Any, sink: Any, end_write: Any) -> None:
        try:
            while data := source.recv(_CHUNK):
                sink.sendall(data)
            with contextlib.suppress(Exception):
                end_write()
        except Exception:  # noqa: BLE001 - a reset either side: the whole splice is over
            _close(sock, channel)
        finally:
            with contextlib.suppress(threading.BrokenBarrierError):
                done.wait()

    threading.Thread(target=pump, args=(sock, channel, channel.shutdown_write), daemon=True, name="fwd-up").start()
    threading.Thread(target=pump, args=(channel, sock, lambda: sock.shutdown(socket.SHUT_WR)), daemon=True,
                     name="fwd-down").start()


def _close(*ends: Any) -> None:
    for end in ends:
        with contextlib.suppress(Exception):
            end.close()


class Forwarder:
    def __init__(self, connection: Channels) -> None:
        self._connection = connection
        # short, private, outside the run dir: a unix socket's path must stay under 108 bytes
        self.directory = Path(tempfile.mkdtemp(prefix="ccci-ssh-"))
        self.docker_socket = self.directory / "docker.sock"
        self.tcp_socket = self.directory / "tcp.sock"
        self._listeners = [self._listen(self.docker_socket, self._docker), self._listen(self.tcp_socket, self._tcp)]

    def _listen(self, path: Path, serve: Any) -> socket.socket:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        listener.listen(64)
        threading.Thread(target=self._accept, args=(listener, serve), daemon=True, name=f"fwd-{path.name}").start()
        return listener

    def _accept(self, listener: socket.socket, serve: Any) -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:  # closed: the run is over
                return
            threading.Thread(target=serve, args=(sock,), daemon=True, name="fwd-open").start()

    def _docker(self, sock: socket.socket) -> None:
        try:
            channel = self._connection.exec_channel("docker system dial-stdio")
        except Exception as err:  # noqa: BLE001 - told to the client as the engine's answer
            _answer_unreachable(sock, str(err) or type(err).__name__)
            return
        _splice(sock, channel)

    def _tcp(self, sock: socket.socket) -> None:
        try:
            host, port = _read_line(sock).split()
            channel = self._connection.tcp_channel(host, int(port), None)
        except Exception as err:  # noqa: BLE001 - told to the client, which raises it
            with contextlib.suppress(OSError):
                sock.sendall(f"error {str(err) or type(err).__name__}\n".encode())
            sock.close()
            return
        sock.sendall(b"ok\n")
        _splice(sock, channel)

    def close(self) -> None:
        for listener in self._listeners:
            with contextlib.suppress(OSError):
                listener.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def _answer_unreachable(sock: socket.socket, reason: str) -> None:
    """A 502 in the engine API's own error shape, so the docker CLI and SDK print why (`Error
    response from daemon: the SSH link to … is lost: …`) instead of an EOF. The request is read
    first: closing a socket with unread data resets it, and the client would see only that."""
    with contextlib.suppress(OSError):
        sock.settimeout(5)
        request = b""
        while b"\r\n\r\n" not in request and len(request) < _CHUNK:
            data = sock.recv(4096)
            if not data:
                break
            request += data
        body = json.dumps({"message": reason}).encode()
        sock.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        sock.shutdown(socket.SHUT_WR)
        sock.recv(_CHUNK)  # what is left of the request's body, until the client closes
    sock.close()


def _read_line(sock: socket.socket) -> str:
    line = b""
    while not line.endswith(b"\n"):
        byte = sock.recv(1)
        if not byte:
            raise ConnectionError("closed before its first line")
        line += byte
    return line.decode().strip()


def open_tcp(tcp_socket: Path, host: str, port: int, timeout: float | None) -> Stream:
    """A stream to host:port from the remote node, through the run's forwarder."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(str(tcp_socket))
    sock.sendall(f"{host} {port}\n".encode())
    answer = _read_line(sock)
    if answer != "ok":
        sock.close()
        raise ConnectionRefusedError(answer.removeprefix("error "))
    return sock


class ForwardedTarget(DockerTarget):
    """The run's SSH target as a tier's pytest process sees it: through the run's forwarder."""

    name = "forwarded"

    def __init__(self, address: str, forward_dir: Path) -> None:
        self.address = address
        self._dir = forward_dir
        try:
            self._client = counting_waits(docker.DockerClient(base_url=f"unix://{forward_dir / 'docker.sock'}",
                                                              version="auto"))
        except docker.errors.DockerException as err:
            raise InfraError(f"cannot reach {address} through the run's forwarder in {forward_dir}: {err}") from None

    @classmethod
    def attach(cls, description: dict[str, Any]) -> ForwardedTarget:
        return cls(description["address"], Path(description["forward_dir"]))

    @property
    def client(self) -> docker.DockerClient:
        return self._client

    def host_env(self) -> dict[str, str]:
        return {"DOCKER_HOST": f"unix://{self._dir / 'docker.sock'}"}

    def http_transport(self) -> httpx.BaseTransport:
        return channel_transport(lambda host, port, timeout: open_tcp(self._dir / "tcp.sock", host, port, timeout))

    def close(self) -> None:
        self._client.close()
