"""An sshd on loopback in front of this machine's engine, with keys made for the test: the
"remote" swarm manager of the SSH target's end-to-end tests (Debian's openssh-server)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")


@dataclass(frozen=True)
class Sshd:
    port: int
    key: Path  # an identity sshd accepts for root
    known_hosts: Path  # holds sshd's host key for [127.0.0.1]:port
    host_key: Path
    log: Path

    @property
    def url(self) -> str:
        return f"ssh://root@127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {"CCCI_DOCKER_HOST": self.url, "CCCI_SSH_KEY": str(self.key),
                "CCCI_SSH_KNOWN_HOSTS": str(self.known_hosts)}


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def loopback_sshd(directory: Path) -> Iterator[Sshd]:
    directory.mkdir(parents=True, exist_ok=True)
    host_key, key = keygen(directory / "host_key"), keygen(directory / "client_key")
    (directory / "authorized_keys").write_text((directory / "client_key.pub").read_text())
    port = free_port()
    config = directory / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}", f"PidFile {directory / 'sshd.pid'}",
        f"AuthorizedKeysFile {directory / 'authorized_keys'}", "PermitRootLogin prohibit-password",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
        "AllowTcpForwarding yes", "LogLevel VERBOSE", ""]))
    known_hosts = directory / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {(directory / 'host_key.pub').read_text().split(' ', 2)[0]} "
                           f"{(directory / 'host_key.pub').read_text().split(' ', 2)[1]}\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # its privilege separation dir
    log = directory / "sshd.log"
    process = subprocess.Popen([str(SSHD), "-D", "-f", str(config), "-E", str(log)])
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"sshd did not start: {log.read_text() if log.exists() else 'no log'}")
            time.sleep(0.05)
        yield Sshd(port, key, known_hosts, host_key, log)
    finally:
        process.terminate()
        process.wait(timeout=10)
