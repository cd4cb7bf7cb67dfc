"""An sshd on loopback in front of this machine's engine, with keys made for the test: the
"remote" swarm manager of the SSH target's end-to-end tests (Debian's openssh-server)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")


@dataclass
class Sshd:
    port: int
    key: Path  # an identity sshd accepts for root
    known_hosts: Path  # holds sshd's host key for [127.0.0.1]:port
    host_key: Path
    log: Path
    config: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ssh://root@127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {"CCCI_DOCKER_HOST": self.url, "CCCI_SSH_KEY": str(self.key),
                "CCCI_SSH_KNOWN_HOSTS": str(self.known_hosts)}

    def start(self) -> None:
        self.process = subprocess.Popen([str(SSHD), "-D", "-f", str(self.config), "-E", str(self.log)])
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"sshd did not start: {self.log.read_text() if self.log.exists() else 'no log'}")
            time.sleep(0.05)

    def kill(self) -> list[int]:
        """The cut: SIGKILL to this sshd and every process it started (its sessions and their
        commands), by pid; the pids killed."""
        assert self.process is not None
        doomed = [self.process.pid, *descendants(self.process.pid)]
        for pid in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        return doomed

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, from /proc (children first found, then theirs)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def loopback_sshd(directory: Path, extra: tuple[str, ...] = ()) -> Iterator[Sshd]:
    """Debian's sshd with its stock limits (no MaxSessions, no MaxStartups: 10 and 10:30:100),
    configured only to be a test host on loopback: its port, keys and paths, key login for root
    (and `extra` lines, for a test that injects a fault)."""
    directory.mkdir(parents=True, exist_ok=True)
    host_key, key = keygen(directory / "host_key"), keygen(directory / "client_key")
    (directory / "authorized_keys").write_text((directory / "client_key.pub").read_text())
    port = free_port()
    config = directory / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}", f"PidFile {directory / 'sshd.pid'}",
        f"AuthorizedKeysFile {directory / 'authorized_keys'}", "PermitRootLogin prohibit-password",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
        "LogLevel VERBOSE", *extra, ""]))
    known_hosts = directory / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {(directory / 'host_key.pub').read_text().split(' ', 2)[0]} "
                           f"{(directory / 'host_key.pub').read_text().split(' ', 2)[1]}\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # its privilege separation dir
    sshd = Sshd(port, key, known_hosts, host_key, directory / "sshd.log", config)
    sshd.start()
    try:
        yield sshd
    finally:
        sshd.stop()
