"""A test switch: refuse this process's own route to the node's docker_gwbridge addresses
(`CCCI_TEST_REFUSE_LOCAL_REACH=1`). An SSH run that passes with it on reached its app only through
the SSH channel; a local run with it on cannot reach its app at all."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from typing import Any

ENV = "CCCI_TEST_REFUSE_LOCAL_REACH"
_original_connect = socket.socket.connect
_refused: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []


def refuse_local_reach(subnets: Sequence[str]) -> None:
    """From now on, a connect() of this process to an address in `subnets` raises
    ConnectionRefusedError saying why. Idempotent."""
    _refused[:] = [ipaddress.ip_network(s, strict=False) for s in subnets]
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign, assignment]


def _guarded_connect(sock: socket.socket, address: Any) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
        try:
            ip = ipaddress.ip_address(address[0])
        except ValueError:
            ip = None
        if ip is not None and any(ip in net for net in _refused):
            raise ConnectionRefusedError(f"the local route to {address[0]} is refused for this run ({ENV}=1)")
    _original_connect(sock, address)


def allow_local_reach() -> None:
    """Undo `refuse_local_reach` (tests that switched it on in their own process)."""
    _refused.clear()
    socket.socket.connect = _original_connect  # type: ignore[method-assign]
