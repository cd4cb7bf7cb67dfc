"""Exec in an app container never returns lost output as if the command had printed nothing, and
never turns a command that finished into an error because docker lost its stream (moby#27289)."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from docker.errors import NotFound

from runner.errors import ExecError
from runner.plumbing.proc import ExecResult
from runner.swarm import reach
from runner.swarm.reach import END_MARKER, OutputLost, framed, unframed

Fault = Callable[[int | None, bytes, bytes], tuple[int | None, bytes, bytes]]


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


# -- a container whose exec stream drops output ---------------------------------------------------

class _ExecApi:
    """The engine's exec calls (create, start, inspect), over a double's `exec_run`."""

    def __init__(self, container: Any) -> None:
        self._container, self._pending, self._code = container, {}, {}  # type: ignore[var-annotated]

    def exec_create(self, container_id: str, cmd: Any, **_kwargs: Any) -> dict[str, str]:
        exec_id = f"exec{len(self._pending)}"
        self._pending[exec_id] = cmd
        return {"Id": exec_id}

    def exec_start(self, exec_id: str, demux: bool) -> tuple[bytes | None, bytes | None]:
        # the engine runs it: the double's own exec_run (not a subclass's client-side one)
        engine = LossyContainer.exec_run if isinstance(self._container, LossyContainer) else type(self._container).exec_run
        self._code[exec_id], output = engine(self._container, self._pending[exec_id], demux=demux)
        return output  # type: ignore[no-any-return]

    def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        return {"ExitCode": self._code.get(exec_id), "Running": False, "Pid": 0}


class _Client:
    def __init__(self, container: Any) -> None:
        self.api = _ExecApi(container)


class LossyContainer:
    """A fault-injecting double of a container: each exec really runs (the host's sh plays the
    container's; its /tmp and /var/tmp are dirs under a pytest tmp dir) and the exit code is
    right, but `fault` decides what the exec stream delivers, as moby#27289 does under load.
    `get_archive` reads the host dirs, as the archive API reads the container's filesystem."""

    id = "c0ffee"
    status = "running"

    def __init__(self, fault: Fault | None = None, attrs: dict[str, Any] | None = None,
                 path: str | None = None) -> None:
        self.fault, self.path = fault, path
        self.attrs = attrs or {"HostConfig": {}, "Mounts": []}
        self.runs: list[Any] = []
        self.client = _Client(self)

    def exec_run(self, cmd: Any, demux: bool) -> tuple[int | None, tuple[bytes | None, bytes | None]]:
        self.runs.append(cmd)
        env = {**os.environ, "PATH": self.path} if self.path else None
        done = subprocess.run(cmd, capture_output=True, env=env)
        code, out, err = (self.fault or (lambda *a: a))(done.returncode, done.stdout, done.stderr)
        return code, (out or None, err or None)

    def get_archive(self, path: str) -> tuple[Iterator[bytes], dict[str, Any]]:
        if not Path(path).exists():
            raise NotFound(f"Could not find the file {path} in container {self.id}")
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            tar.add(path, arcname=Path(path).name)
        return iter([buffer.getvalue()]), {}

    def reload(self) -> None:
        pass


@pytest.fixture
def bases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """The container's /tmp and /var/tmp, as dirs of the test's own."""
    tmp, var_tmp = tmp_path / "tmp", tmp_path / "var-tmp"
    tmp.mkdir()
    var_tmp.mkdir()
    monkeypatch.setattr(reach, "CAPTURE_BASES", (str(tmp), str(var_tmp)), raising=False)
    return tmp, var_tmp


def _exec_with(monkeypatch: pytest.MonkeyPatch, container: Any, cmd: list[str] | str, **kwargs: Any) -> ExecResult:
    monkeypatch.setattr(reach, "running_container", lambda client, stack, service: container)
    return reach.exec_in_app(None, "stack", "app", cmd, **kwargs)  # type: ignore[arg-type]


def _drop_stdout(code: int | None, out: bytes, err: bytes) -> tuple[int | None, bytes, bytes]:
    return code, b"", err


def _drop_stderr(code: int | None, out: bytes, err: bytes) -> tuple[int | None, bytes, bytes]:
    return code, out, b""


def _drop_both(code: int | None, out: bytes, err: bytes) -> tuple[int | None, bytes, bytes]:
    return code, b"", b""


def _cut_tails(code: int | None, out: bytes, err: bytes) -> tuple[int | None, bytes, bytes]:
    return code, out[:-12], err[:-12]  # the stream closed a few bytes before its end


def _closed_while_running(code: int | None, out: bytes, err: bytes) -> tuple[int | None, bytes, bytes]:
    return None, b"", b""  # docker-py's exec_run: ExitCode None when the command still runs


HOOK = ["sh", "-c", "printf 'dump line 1\\ndump line 2\\n' > \"$0\"; cat \"$0\"; echo 'warning: x' >&2; exit 3"]


@pytest.mark.parametrize("fault", [_drop_stdout, _drop_stderr, _drop_both, _cut_tails, _closed_while_running])
def test_output_the_exec_stream_lost_is_read_back_whole_and_the_command_runs_once(
    fault: Fault, bases: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = LossyContainer(fault)
    result = _exec_with(monkeypatch, container, [*HOOK[:3], str(tmp_path / "dump")], check=False)
    assert result == ExecResult(3, "dump line 1\ndump line 2\n", "warning: x\n")
    assert len(container.runs) == 1  # never run twice: the command may have changed something


def test_a_command_that_finished_is_not_an_error_when_its_stream_was_lost(
    bases: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The false red of issue 11 point 2: a pre_restore hook's `sh -c printf … > file` exited 0."""
    target = tmp_path / "backup-marker.txt"
    cmd = ["sh", "-c", f"printf %s 'after-backup-1f2e' > {target}"]
    assert _exec_with(monkeypatch, LossyContainer(_drop_both), cmd) == ExecResult(0, "", "")
    assert target.read_text() == "after-backup-1f2e"


def test_an_image_without_cat_reads_its_output_back_rather_than_returning_it_empty(
    bases: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sh replays the capture files with cat; without cat no marker is printed, so the files are read."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("sh", "mkdir", "rm"):
        (tools / tool).symlink_to(subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True,
                                                 text=True, check=True).stdout.strip())
    result = _exec_with(monkeypatch, LossyContainer(path=str(tools)), ["sh", "-c", "echo secret-value"])
    assert result == ExecResult(0, "secret-value\n", "")


def test_the_next_exec_removes_the_capture_dir_of_the_one_before(
    bases: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp, _ = bases
    container = LossyContainer()
    _exec_with(monkeypatch, container, ["true"])
    first = {p.name for p in tmp.iterdir()}
    _exec_with(monkeypatch, container, ["true"])
    second = {p.name for p in tmp.iterdir()}
    assert len(first) == len(second) == 1 and first != second
    assert all(name.startswith(reach.CAPTURE_PREFIX) for name in first | second)


def test_capture_files_go_to_the_next_base_when_the_first_takes_none(
    bases: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp, var_tmp = bases
    tmp.rmdir()  # an image without /tmp: mkdir fails there
    result = _exec_with(monkeypatch, LossyContainer(_drop_both), ["echo", "from var/tmp"])
    assert result == ExecResult(0, "from var/tmp\n", "")
    assert [p.name[:len(reach.CAPTURE_PREFIX)] for p in var_tmp.iterdir()] == [reach.CAPTURE_PREFIX]


class StillRunningContainer(LossyContainer):
    """The stream closed while the command ran: its exit code file shows up a few polls later."""

    def __init__(self) -> None:
        super().__init__(_closed_while_running)
        self.polls = 0

    def get_archive(self, path: str) -> tuple[Iterator[bytes], dict[str, Any]]:
        self.polls += 1
        rc, aside = Path(path) / "rc", Path(path) / "rc.later"
        if self.polls == 1:
            rc.rename(aside)
        elif self.polls == 3:
            aside.rename(rc)
        return super().get_archive(path)


def test_a_stream_that_closed_while_the_command_ran_waits_for_its_exit_code(
    bases: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reach, "_RC_POLL_S", 0.0)
    container = StillRunningContainer()
    assert _exec_with(monkeypatch, container, ["sh", "-c", "echo done; exit 4"], check=False) == ExecResult(4, "done\n", "")
    assert container.polls == 3 and len(container.runs) == 1


@pytest.mark.parametrize(("attrs", "expected"), [
    ({"HostConfig": {}, "Mounts": []}, ("/tmp", "/var/tmp")),
    ({"HostConfig": {"ReadonlyRootfs": True}, "Mounts": []}, ()),  # nothing writable the archive API reads
    ({"HostConfig": {}, "Mounts": [{"Type": "volume", "Destination": "/tmp"}]}, ("/var/tmp",)),
    ({"HostConfig": {}, "Mounts": [{"Type": "volume", "Destination": "/var"}]}, ("/tmp",)),
    ({"HostConfig": {}, "Mounts": [{"Type": "tmpfs", "Destination": "/tmp/"}]}, ("/var/tmp",)),
    ({"HostConfig": {"Tmpfs": {"/tmp": ""}}, "Mounts": None}, ("/var/tmp",)),  # --tmpfs: not in Mounts
    ({"HostConfig": {}, "Mounts": [{"Type": "bind", "Destination": "/tmpdata"}]}, ("/tmp", "/var/tmp")),
])
def test_capture_files_never_go_where_the_archive_api_cannot_read_or_onto_a_volume(
    attrs: dict[str, Any], expected: tuple[str, ...]
) -> None:
    assert reach.capture_bases(attrs) == expected


def test_with_nowhere_to_write_the_end_markers_alone_guard_the_output(
    bases: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    read_only = {"HostConfig": {"ReadonlyRootfs": True}, "Mounts": []}
    intact = LossyContainer(attrs=read_only)
    assert _exec_with(monkeypatch, intact, ["echo", "hi"]) == ExecResult(0, "hi\n", "")
    lossy = LossyContainer(_drop_stdout, attrs=read_only)
    with pytest.raises(OutputLost, match="docker lost its stdout .* could not be read back from nowhere"):
        _exec_with(monkeypatch, lossy, ["cat", "/run/secrets/pw"], check=False)
    assert len(lossy.runs) == 1


def test_a_command_that_only_reads_runs_again_when_its_output_could_not_be_read_back(
    bases: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    drops = iter([True, False])
    container = LossyContainer(lambda c, o, e: (c, b"", b"") if next(drops) else (c, o, e),
                               attrs={"HostConfig": {"ReadonlyRootfs": True}, "Mounts": []})
    assert _exec_with(monkeypatch, container, ["echo", "pw"], rerun_if_output_lost=True) == ExecResult(0, "pw\n", "")
    assert len(container.runs) == 2


class ScriptedContainer:
    """Answers each exec from a list, for what the runtime says before a command runs."""

    id = "c0ffee"
    attrs: dict[str, Any] = {"HostConfig": {}, "Mounts": []}

    def __init__(self, answers: list[tuple[int, bytes, bytes]]) -> None:
        self.answers, self.commands = answers, []  # type: ignore[var-annotated]
        self.client = _Client(self)

    def exec_run(self, cmd: Any, demux: bool) -> tuple[int, tuple[bytes, bytes]]:
        self.commands.append(cmd)
        code, out, err = self.answers.pop(0)
        return code, (out, err)

    def get_archive(self, path: str) -> Any:
        raise NotFound(path)


def test_exec_in_app_raises_when_docker_lost_the_output_and_nothing_can_be_read_back(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    container = ScriptedContainer([(0, b"", f"{END_MARKER}\n".encode())])
    with pytest.raises(ExecError, match="docker lost its stdout"):
        _exec_with(monkeypatch, container, ["cat", "/run/secrets/pw"], check=False)
    assert len(container.commands) == 1


def test_an_image_without_sh_gets_the_command_bare(monkeypatch: pytest.MonkeyPatch) -> None:
    no_sh = b'OCI runtime exec failed: exec failed: unable to start container process: exec: "sh": ' \
            b"executable file not found in $PATH: unknown"
    container = ScriptedContainer([(126, no_sh, b""), (0, b"secret-value", b"")])
    assert _exec_with(monkeypatch, container, ["cat", "/run/secrets/pw"]) == ExecResult(0, "secret-value", "")
    assert container.commands[1] == ["cat", "/run/secrets/pw"]


def test_a_command_that_ran_and_said_no_such_file_is_read_back_not_run_again_bare(
    bases: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 127 and "no such file or directory" (as a Go tool words it) on a stream that lost its
    markers is not a missing sh."""
    container = LossyContainer(lambda c, o, e: (c, b"", e.split(END_MARKER.encode())[0]))
    cmd = ["sh", "-c", "echo 'open /var/lib/app/dump: no such file or directory' >&2; exit 127"]
    result = _exec_with(monkeypatch, container, cmd, check=False)
    assert result == ExecResult(127, "", "open /var/lib/app/dump: no such file or directory\n")
    assert len(container.runs) == 1


def test_a_command_the_runtime_failed_to_start_is_tried_again(monkeypatch: pytest.MonkeyPatch) -> None:
    not_started = b"OCI runtime exec failed: exec failed: cannot exec in a stopped state: unknown"
    container = ScriptedContainer([(126, not_started, b""),
                                   (0, f"pw{END_MARKER}0\n".encode(), f"{END_MARKER}\n".encode())])
    assert _exec_with(monkeypatch, container, ["cat", "/run/secrets/pw"]) == ExecResult(0, "pw", "")
    assert len(container.commands) == 2


# -- a link cut while an exec starts ---------------------------------------------------------------

class _CutWhileStarting(_ExecApi):
    """The first start's connection breaks (an SSH link cut); `ran` says whether the engine had
    started the command before it did."""

    def __init__(self, container: Any, ran: bool) -> None:
        super().__init__(container)
        self.ran, self.cuts = ran, 1

    def exec_start(self, exec_id: str, demux: bool) -> tuple[bytes | None, bytes | None]:
        if self.cuts:
            self.cuts -= 1
            if self.ran:
                super().exec_start(exec_id, demux)  # it ran, its output went down with the link
            raise requests.exceptions.ConnectionError("the SSH link to ssh://root@h:22 or the engine behind it went away "
                                                     "during POST /exec")
        return super().exec_start(exec_id, demux)

    def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        code = self._code.get(exec_id)
        return {"ExitCode": code, "Running": False, "Pid": 4242 if code is not None else 0}


class _DockerPyContainer(LossyContainer):
    """`exec_run` as docker-py's own: create, start and inspect through the client's API."""

    def exec_run(self, cmd: Any, demux: bool) -> tuple[int | None, tuple[bytes | None, bytes | None]]:
        api = self.client.api
        exec_id = api.exec_create(self.id, cmd, stdout=True, stderr=True)["Id"]
        output = api.exec_start(exec_id, demux=demux)
        return api.exec_inspect(exec_id)["ExitCode"], output


def test_an_exec_whose_start_was_cut_before_it_ran_is_started_again_once(
    bases: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = _DockerPyContainer()
    container.client.api = _CutWhileStarting(container, ran=False)  # type: ignore[assignment]
    result = _exec_with(monkeypatch, container, [*HOOK[:3], str(tmp_path / "dump")], check=False)
    assert result == ExecResult(3, "dump line 1\ndump line 2\n", "warning: x\n")
    assert len(container.runs) == 1


def test_an_exec_whose_start_was_cut_after_it_ran_is_read_back_never_run_twice(
    bases: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = _DockerPyContainer()
    container.client.api = _CutWhileStarting(container, ran=True)  # type: ignore[assignment]
    result = _exec_with(monkeypatch, container, [*HOOK[:3], str(tmp_path / "dump")], check=False)
    assert result == ExecResult(3, "dump line 1\ndump line 2\n", "warning: x\n")
    assert len(container.runs) == 1  # the command may have changed something: never again
