"""Backup and restore hooks run as backup-bot-two runs them (through bash, so shell syntax works),
and stricter: a hook that fails, cannot run, or would lose data in production fails the op."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from runner.errors import ExecError
from runner.plumbing.proc import ExecResult, failure_message
from runner.plumbing.scrub import scrubber
from runner.recipe.backupbot import Hook
from runner.swarm.backup import _run_hooks
from runner.swarm.reach import OutputLost


class ShellDriver:
    """A target stand-in: execs as the swarm target does in a container that has sh: a string command is split
    with shlex, an argv runs as given, under the host's sh with PATH limited to `tools` (the
    image's programs)."""

    def __init__(self, tools: Path) -> None:
        self.tools, self.said, self.runs = tools, [], []  # type: ignore[var-annotated]

    def exec_in(self, app: Any, service: str, cmd: list[str] | str, *, check: bool = True,
                rerun_if_output_lost: bool = False) -> ExecResult:
        argv = shlex.split(cmd) if isinstance(cmd, str) else list(cmd)
        self.runs.append(argv)
        done = subprocess.run(["sh", "-c", '"$@"', "sh", *argv], capture_output=True, text=True,
                              env={"PATH": str(self.tools)})
        result = ExecResult(done.returncode, done.stdout, done.stderr)
        if check and result.failed:
            raise ExecError(failure_message(f"`{cmd}` in {service}", result), result)
        return result

    def say(self, message: str) -> None:
        self.said.append(message)


def _image(tmp_path: Path, *tools: str) -> Path:
    """A dir of the host's programs by name: what the image carries."""
    found = tmp_path / "image-bin"
    found.mkdir(exist_ok=True)
    for tool in ("sh", *tools):
        path = subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True, text=True, check=True)
        (found / tool).symlink_to(path.stdout.strip())
    return found


SHELL_TOOLS = ("cat", "tr", "gzip", "echo")


def test_a_hook_with_a_redirect_a_pipe_and_a_secret_makes_its_dump(tmp_path: Path) -> None:
    """Issue 11 point 7: `mysqldump … > dump.sql` style hooks work in production, so they work here."""
    (tmp_path / "db_password").write_text("s3cret")
    dump = tmp_path / "dump.sql.gz"
    label = f'echo "rows of db, password $(cat {tmp_path}/db_password)" | gzip > {dump}'
    driver = ShellDriver(_image(tmp_path, "bash", *SHELL_TOOLS))
    _run_hooks(driver, None, driver.say, [Hook("db", "backupbot.backup.pre-hook", label)])  # type: ignore[arg-type]
    assert subprocess.run(["gzip", "-dc", str(dump)], capture_output=True, text=True).stdout \
        == "rows of db, password s3cret\n"
    assert len(driver.runs) == 1 and driver.runs[0][:2] == ["bash", "-c"]


def test_a_hook_failing_inside_a_pipe_fails_the_op(tmp_path: Path) -> None:
    driver = ShellDriver(_image(tmp_path, "bash", *SHELL_TOOLS))
    hook = Hook("db", "backupbot.backup.pre-hook", "cat /no/such/dump | gzip > /dev/null")
    with pytest.raises(ExecError, match=r"backupbot.backup.pre-hook on db failed: .* exited 1 .*No such file"):
        _run_hooks(driver, None, driver.say, [hook])  # type: ignore[arg-type]


def test_a_hook_in_an_image_without_bash_fails_saying_production_would_lose_the_dump(tmp_path: Path) -> None:
    """Issue 11 point 13: backup-bot-two cannot run it there, logs that and backs up without the dump."""
    dump = tmp_path / "dump.sql"
    driver = ShellDriver(_image(tmp_path, *SHELL_TOOLS))  # sh, but no bash
    hook = Hook("db", "backupbot.backup.pre-hook", f"sh -c 'echo rows > {dump}'")
    with pytest.raises(ExecError) as failed:
        _run_hooks(driver, None, driver.say, [hook])  # type: ignore[arg-type]
    message = str(failed.value)
    assert "backupbot.backup.pre-hook on db cannot run: the image has no bash" in message
    assert "silently missing" in message and "\n" not in message
    assert not dump.exists()


def test_a_hook_production_would_run_only_part_of_fails_before_it_runs(tmp_path: Path) -> None:
    driver = ShellDriver(_image(tmp_path, "bash", *SHELL_TOOLS))
    hook = Hook("app", "backupbot.backup.pre-hook", f"sh -c \"echo 'a b' > {tmp_path}/dump\"")
    with pytest.raises(ExecError, match="backupbot.backup.pre-hook on app failed: backup-bot-two would not run"):
        _run_hooks(driver, None, driver.say, [hook])  # type: ignore[arg-type]
    assert driver.runs == []


def test_a_failing_hook_names_its_label_service_exit_code_and_output_without_secrets(tmp_path: Path) -> None:
    scrubber.add("hunter2-value")
    driver = ShellDriver(_image(tmp_path, "bash", *SHELL_TOOLS))
    hook = Hook("db", "backupbot.restore.post-hook", "echo connecting as hunter2-value; echo disk full >&2; exit 7")
    with pytest.raises(ExecError) as failed:
        _run_hooks(driver, None, driver.say, [hook])  # type: ignore[arg-type]
    message = str(failed.value)
    assert message.startswith("backupbot.restore.post-hook on db failed: ")
    assert "exited 7" in message and "disk full" in message and "connecting as" in message
    assert "hunter2-value" not in message


class _Raising:
    def __init__(self, error: Exception) -> None:
        self.error, self.said, self.calls = error, [], 0  # type: ignore[var-annotated]

    def exec_in(self, app: Any, service: str, cmd: list[str] | str, **kwargs: Any) -> ExecResult:
        self.calls += 1
        raise self.error

    def say(self, message: str) -> None:
        self.said.append(message)


def test_a_hook_that_exited_0_succeeds_even_when_its_output_was_lost() -> None:
    hook = Hook("app", "backupbot.backup.post-hook", "rm -f /srv/www/dump")
    lost_ok = _Raising(OutputLost("lost", ExecResult(0, "", "")))
    _run_hooks(lost_ok, None, lost_ok.say, [hook])  # type: ignore[arg-type]
    assert "exited 0; the engine lost its output" in lost_ok.said[-1] and lost_ok.calls == 1
    lost_failed = _Raising(OutputLost("lost", ExecResult(2, "", "")))
    with pytest.raises(ExecError, match="backupbot.backup.post-hook on app failed: .* exited 2 .*output was lost"):
        _run_hooks(lost_failed, None, lost_failed.say, [hook])  # type: ignore[arg-type]
    assert lost_failed.calls == 1  # never run again


def test_a_hook_with_no_container_to_run_in_names_its_label() -> None:
    gone = _Raising(ExecError("cannot exec in stack_db after 30s: no running container"))
    with pytest.raises(ExecError, match="backupbot.backup.pre-hook on db failed: cannot exec in stack_db"):
        _run_hooks(gone, None, gone.say, [Hook("db", "backupbot.backup.pre-hook", "true")])  # type: ignore[arg-type]
