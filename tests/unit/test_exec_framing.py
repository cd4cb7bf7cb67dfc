"""Exec in an app container never returns lost output as if the command had printed nothing."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from runner.drivers.swarm import reach
from runner.drivers.swarm.reach import END_MARKER, OutputLost, framed, unframed
from runner.errors import ExecError
from runner.harness.proc import ExecResult


def _sh(argv: list[str]) -> ExecResult:
    """What the container's sh does with a framed command (run by the host's sh here)."""
    done = subprocess.run(argv, capture_output=True, text=True)
    return ExecResult(done.returncode, done.stdout, done.stderr)


@pytest.mark.parametrize(("cmd", "code", "out", "err"), [
    (["printf", "%s", "no newline"], 0, "no newline", ""),
    (["sh", "-c", "echo out; echo err >&2; exit 3"], 3, "out\n", "err\n"),
    ("echo 'two words'", 0, "two words\n", ""),  # a string is split, not run by a shell
    (["true"], 0, "", ""),
])
def test_a_framed_command_gives_back_exactly_its_own_output_and_exit_code(
    cmd: list[str] | str, code: int, out: str, err: str
) -> None:
    assert unframed(_sh(framed(cmd)), "cmd") == ExecResult(code, out, err)


@pytest.mark.parametrize(("stdout", "stderr", "lost"), [
    ("", f"{END_MARKER}\n", "stdout"),  # docker closed stdout early: looks like "printed nothing"
    (f"pw{END_MARKER}0\n", "", "stderr"),
    ("", "", "stdout and stderr"),
    (f"pw{END_MARKER}1\n", f"{END_MARKER}\n", "exit code"),  # the marker's code disagrees
])
def test_a_missing_end_marker_is_lost_output_not_an_empty_result(stdout: str, stderr: str, lost: str) -> None:
    with pytest.raises(OutputLost, match=f"exited 0 but docker lost its {lost}"):
        unframed(ExecResult(0, stdout, stderr), "`cat pw` in app")


class FakeContainer:
    def __init__(self, answers: list[tuple[int, bytes, bytes]]) -> None:
        self.answers, self.commands = answers, []  # type: ignore[var-annotated]

    def exec_run(self, cmd: Any, demux: bool) -> tuple[int, tuple[bytes, bytes]]:
        self.commands.append(cmd)
        code, out, err = self.answers.pop(0)
        return code, (out, err)


def _exec_with(monkeypatch: pytest.MonkeyPatch, container: FakeContainer, **kwargs: Any) -> ExecResult:
    monkeypatch.setattr(reach, "running_container", lambda stack, service: container)
    return reach.exec_in_app("stack", "app", ["cat", "/run/secrets/pw"], **kwargs)


def test_exec_in_app_raises_when_docker_lost_the_output_of_a_successful_command(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    container = FakeContainer([(0, b"", f"{END_MARKER}\n".encode())])
    with pytest.raises(ExecError, match="docker lost its stdout"):
        _exec_with(monkeypatch, container, check=False)
    assert len(container.commands) == 1  # never run twice: the command may have changed something


def test_an_image_without_sh_gets_the_command_bare(monkeypatch: pytest.MonkeyPatch) -> None:
    no_sh = b'OCI runtime exec failed: exec failed: unable to start container process: exec: "sh": ' \
            b"executable file not found in $PATH: unknown"
    container = FakeContainer([(126, no_sh, b""), (0, b"secret-value", b"")])
    assert _exec_with(monkeypatch, container) == ExecResult(0, "secret-value", "")
    assert container.commands[1] == ["cat", "/run/secrets/pw"]


def test_a_command_the_runtime_failed_to_start_is_tried_again(monkeypatch: pytest.MonkeyPatch) -> None:
    not_started = b"OCI runtime exec failed: exec failed: cannot exec in a stopped state: unknown"
    container = FakeContainer([(126, not_started, b""), (0, f"pw{END_MARKER}0\n".encode(), f"{END_MARKER}\n".encode())])
    assert _exec_with(monkeypatch, container) == ExecResult(0, "pw", "")
    assert len(container.commands) == 2


def test_a_command_that_only_reads_runs_again_when_its_output_was_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    container = FakeContainer([(0, b"", f"{END_MARKER}\n".encode()),
                               (0, f"pw{END_MARKER}0\n".encode(), f"{END_MARKER}\n".encode())])
    assert _exec_with(monkeypatch, container, rerun_if_output_lost=True) == ExecResult(0, "pw", "")
    assert len(container.commands) == 2


class _HookDriver:
    def __init__(self, error: Exception) -> None:
        self.error, self.said = error, []  # type: ignore[var-annotated]

    def exec_in(self, app: Any, service: str, cmd: str) -> ExecResult:
        raise self.error

    def say(self, message: str) -> None:
        self.said.append(message)


def test_a_backup_hook_that_exited_0_succeeds_even_when_its_output_was_lost() -> None:
    from runner.drivers.swarm.backup import _run_hooks
    from runner.harness.backupbot import Hook

    hook = Hook("app", "backupbot.backup.post-hook", "rm -f /srv/www/dump")
    lost_ok = _HookDriver(OutputLost("lost", ExecResult(0, "", "")))
    _run_hooks(lost_ok, None, [hook])  # type: ignore[arg-type]
    assert "exited 0; the engine lost its output" in lost_ok.said[-1]
    with pytest.raises(ExecError, match="backupbot.backup.post-hook on app failed"):
        _run_hooks(_HookDriver(OutputLost("lost", ExecResult(2, "", ""))), None, [hook])  # type: ignore[arg-type]
