"""The one way to run a command: on the host (git, docker CLI, pytest) or in a container.

Both give an `ExecResult`; both raise `ExecError` with one message format unless the caller asks
for the result with `check=False`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from runner.errors import ExecError
from runner.plumbing.scrub import scrubber


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0

    @property
    def failed(self) -> bool:
        return not self.succeeded

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def failure_message(what: str, result: ExecResult, limit: int = 300) -> str:
    """`<what> exited N: <last line of stderr, else stdout>`, scrubbed."""
    lines = (result.stderr.strip() or result.stdout.strip()).splitlines()
    tail = lines[-1][-limit:] if lines else "no output"
    return scrubber.scrub(f"{what} exited {result.exit_code}: {tail}")


def show(cmd: Sequence[str] | str) -> str:
    return cmd if isinstance(cmd, str) else " ".join(cmd)


def run_host(cmd: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None,
             check: bool = True, what: str | None = None, stdin: str | None = None) -> ExecResult:
    """Run `cmd` on the harness's host. A missing executable is an ExecError too."""
    try:
        done = subprocess.run(list(cmd), cwd=cwd, env=dict(env) if env is not None else None,
                              capture_output=True, text=True, input=stdin)
        result = ExecResult(done.returncode, done.stdout, done.stderr)
    except FileNotFoundError as err:
        result = ExecResult(127, "", f"{cmd[0]}: not found ({err.strerror})")
    if check and result.failed:
        raise ExecError(failure_message(what or f"`{show(cmd)}`", result), result)
    return result
