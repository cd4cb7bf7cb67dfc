"""Running the real `abra` CLI: under a pseudo-terminal, with the run's own ABRA_DIR.

abra wants a terminal even with `--no-input` (it refuses to run without one), so every call
gets a pty of its own, and its output is read from the pty's master side. A fatal error is a
line starting with `FATA` and exit code 1: it becomes the op's error, in abra's own words.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from runner.errors import BadInput, InfraError
from runner.plumbing.scrub import scrubber

INSTALL_HINT = ("install abra on the CI server (https://docs.coopcloud.tech/abra/install/) and put it on "
                "PATH, or choose CCCI_DRIVER=swarm")
CALL_TIMEOUT_S = 900.0  # abra waits for convergence itself; cc-ci's own deadline comes after it
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][A-Za-z0-9]|\r")
_FATAL = re.compile(r"^FATA\b")
WITHHELD = "(output withheld: this call prints generated secret values)"


class AbraError(InfraError):
    """An abra call failed; the message is abra's own FATA line (or its last line)."""


def find_abra() -> str:
    """The abra binary on PATH, or bad input (exit 2) saying what to install."""
    found = shutil.which("abra")
    if not found:
        raise BadInput(f"CCCI_DRIVER=abra: no `abra` on PATH; {INSTALL_HINT}")
    return found


@dataclass(frozen=True)
class AbraCall:
    argv: list[str]
    exit_code: int
    output: str  # the terminal's text, colours and carriage returns removed

    @property
    def fatal_line(self) -> str | None:
        """abra's first `FATA` line, None when there is none."""
        return next((line.strip() for line in self.output.splitlines() if _FATAL.match(line.strip())), None)


def error_of(call: AbraCall) -> AbraError | None:
    """The op's error for a failed call (abra's FATA line, else its last line), None when it succeeded."""
    line = call.fatal_line
    if call.exit_code == 0 and line is None:
        return None
    if line is None:
        lines = [text.strip() for text in call.output.splitlines() if text.strip()]
        line = f"exit {call.exit_code}: {lines[-1] if lines else 'no output'}"
    return AbraError(scrubber.scrub(f"abra {' '.join(call.argv[1:3])}: {line}"))


def run_in_pty(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path | None = None,
               timeout_s: float = CALL_TIMEOUT_S) -> tuple[int, str]:
    """Run `argv` with a pseudo-terminal as its stdin, stdout and stderr; its exit code and output."""
    master, child_side = os.openpty()
    # a wide terminal, so that abra's tables and long lines are not folded
    fcntl.ioctl(child_side, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    try:
        process = subprocess.Popen(list(argv), stdin=child_side, stdout=child_side, stderr=child_side,
                                   env=dict(env), cwd=cwd, start_new_session=True, close_fds=True)
    finally:
        os.close(child_side)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            if time.monotonic() > deadline:
                os.killpg(process.pid, signal.SIGKILL)
                chunks.append(f"\nFATA cc-ci: abra did not finish within {timeout_s:.0f}s\n".encode())
                break
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every holder of the terminal's other side has closed it
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
    exit_code = process.wait()
    return exit_code, _ANSI.sub("", b"".join(chunks).decode(errors="replace"))


class Abra:
    """abra for one run: its binary, its ABRA_DIR and the target's docker environment."""

    def __init__(self, binary: str, abra_dir: Path, target_env: Mapping[str, str], log: Path) -> None:
        self.binary = binary
        self.abra_dir = abra_dir
        self.log = log
        # abra's own settings (ABRA_*) pass through, but ABRA_DIR is always the run's
        passed = {k: v for k, v in os.environ.items()
                  if k in ("PATH", "HOME", "LANG", "TZ", "TMPDIR") or k.startswith("ABRA_")}
        # NO_COLOR and a dumb terminal keep abra's output plain text to read FATA lines from
        self.env = passed | dict(target_env) | {"ABRA_DIR": str(abra_dir), "TERM": "dumb", "NO_COLOR": "1"}

    def __call__(self, *args: str, prints_secrets: bool = False) -> AbraCall:
        """`abra <args>`; raises AbraError when it fails. With `prints_secrets` its output is never
        kept (abra shows the values it generated), only its FATA line when it fails."""
        argv = [self.binary, *args]
        exit_code, output = run_in_pty(argv, env=self.env, cwd=self.abra_dir)
        call = AbraCall(argv, exit_code, output)
        shown = WITHHELD if prints_secrets else scrubber.scrub(output.rstrip())
        if prints_secrets and call.fatal_line:
            shown += "\n" + scrubber.scrub(call.fatal_line)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("a") as log:  # every call, in order: logs/abra.log
            log.write(f"$ abra {scrubber.scrub(' '.join(args))}\n{shown}\n(exit {exit_code})\n\n")
        error = error_of(call)
        if error:
            raise error
        return call
