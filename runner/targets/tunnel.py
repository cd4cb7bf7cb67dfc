"""HTTP to a container's address through a tunnel instead of this host's own route: an httpx
transport whose connections are streams a target opens (an SSH `direct-tcpip` channel, or a
unix socket of the run's forwarder). httpx keeps parsing HTTP; only the bytes travel otherwise."""

from __future__ import annotations

import time
import typing
from collections.abc import Callable, Iterable
from typing import Protocol

import httpcore
import httpx


class Stream(Protocol):
    """What a paramiko Channel and a socket both are."""

    def recv(self, size: int) -> bytes: ...
    def sendall(self, data: bytes) -> None: ...
    def settimeout(self, timeout: float | None) -> None: ...
    def close(self) -> None: ...


Opener = Callable[[str, int, float | None], Stream]  # host, port, connect timeout -> an open stream


class _TunnelStream(httpcore.NetworkStream):
    def __init__(self, stream: Stream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._stream.settimeout(timeout)
        try:
            return self._stream.recv(max_bytes)
        except TimeoutError as err:
            raise httpcore.ReadTimeout(str(err)) from err
        except OSError as err:
            raise httpcore.ReadError(str(err)) from err

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.settimeout(timeout)
        try:
            self._stream.sendall(buffer)
        except TimeoutError as err:
            raise httpcore.WriteTimeout(str(err)) from err
        except OSError as err:
            raise httpcore.WriteError(str(err)) from err

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, *args: typing.Any, **kwargs: typing.Any) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("TLS through the tunnel is not supported: apps are reached over plain HTTP")

    def get_extra_info(self, info: str) -> typing.Any:
        return None


class _TunnelBackend(httpcore.NetworkBackend):
    def __init__(self, opener: Opener) -> None:
        self._open = opener

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[typing.Any] | None = None) -> httpcore.NetworkStream:
        try:
            return _TunnelStream(self._open(host, port, timeout))
        except (OSError, EOFError) as err:  # the far end refused, or the tunnel itself is down
            raise httpcore.ConnectError(f"{host}:{port} through the tunnel: {err or type(err).__name__}") from err
        except Exception as err:  # paramiko's ChannelException and SSHException are no OSError
            raise httpcore.ConnectError(f"{host}:{port} through the tunnel: {err}") from err

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[typing.Any] | None = None) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not tunnelled")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def channel_transport(opener: Opener) -> httpx.HTTPTransport:
    """An httpx transport whose every connection is a stream from `opener`."""
    transport = httpx.HTTPTransport(trust_env=False)
    # httpx takes no network backend; its pool is replaced by the same pool over ours
    transport._pool = httpcore.ConnectionPool(network_backend=_TunnelBackend(opener))
    return transport
