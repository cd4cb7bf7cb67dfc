"""Which harness host a run belongs to: the `cc-ci.host` label on every object a run makes, so
that gc on a swarm that several CI hosts share can tell its own runs from another host's."""

from __future__ import annotations

import re
import socket
from pathlib import Path

HOST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def default_host_id(machine_id: Path = Path("/etc/machine-id")) -> str:
    """`<hostname>-<8 hex of /etc/machine-id>`: two containers or clones sharing a hostname still differ."""
    name = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname()).strip("-.")[:40] or "host"
    try:
        suffix = machine_id.read_text().strip()[:8]
    except OSError:
        suffix = ""
    return f"{name}-{suffix}" if suffix else name
