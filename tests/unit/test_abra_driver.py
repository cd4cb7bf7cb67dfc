"""The abra driver's edges, against the stand-in `abra` (tests/fixtures/abra/abra): the terminal
abra needs, FATA lines as the op's error, a missing binary, secret values it printed or generated."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from runner.drivers.abra import backupbot, cli
from runner.drivers.abra.cli import Abra, AbraCall, AbraError, error_of, find_abra, run_in_pty
from runner.drivers.abra.driver import AbraDriver
from runner.errors import EXIT_BAD_INPUT, BadInput
from runner.plumbing import safetar
from runner.plumbing.proc import ExecResult
from runner.plumbing.scrub import MASK, scrubber
from runner.recipe.envfile import SecretSpec
from runner.run.app import App
from runner.run.config import DriverSettings

STAND_IN = Path(__file__).resolve().parents[1] / "fixtures" / "abra" / "abra"


def _abra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, binary: Path = STAND_IN) -> Abra:
    monkeypatch.setenv("ABRA_STANDIN_RECORD", str(tmp_path / "calls.jsonl"))
    return Abra(str(binary), tmp_path / "abra", {}, tmp_path / "logs" / "abra.log")


def _calls(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]


def test_the_stand_in_refuses_a_call_without_a_terminal_as_abra_does(tmp_path: Path) -> None:
    done = subprocess.run([str(STAND_IN), "app", "undeploy", "x.example"], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env={**os.environ, "ABRA_STANDIN_RECORD": str(tmp_path / "c")})
    assert done.returncode == 1
    assert done.stdout.startswith("FATA unable to open a terminal")


def test_every_abra_call_gets_a_terminal_and_the_runs_abra_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "abra").mkdir()
    with pytest.raises(AbraError):  # no such app: the call itself is what is looked at
        _abra(tmp_path, monkeypatch)("app", "undeploy", "--no-input", "x.example")
    (call,) = _calls(tmp_path)
    assert call["tty"] is True
    assert call["env"]["ABRA_DIR"] == str(tmp_path / "abra") and call["cwd"] == str(tmp_path / "abra")
    assert call["argv"] == ["app", "undeploy", "--no-input", "x.example"]


def test_a_fata_line_becomes_the_ops_error_in_abras_own_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "abra").mkdir()
    monkeypatch.setenv("ABRA_STANDIN_FAIL", "deploy")
    with pytest.raises(AbraError) as raised:
        _abra(tmp_path, monkeypatch)("app", "deploy", "--no-input", "x.example")
    assert str(raised.value) == ("abra app deploy: FATA stand-in failing `app deploy` on purpose "
                                 "(ABRA_STANDIN_FAIL=deploy)")
    assert "(exit 1)" in (tmp_path / "logs" / "abra.log").read_text()


@pytest.mark.parametrize(("exit_code", "output", "expected"), [
    (0, "deployed\n", None),
    (1, "INFO working\nFATA unable to deploy: boom\n", "abra app deploy: FATA unable to deploy: boom"),
    (0, "FATA a fatal line with exit 0 still fails\n", "abra app deploy: FATA a fatal line with exit 0 still fails"),
    (3, "first\nlast words\n", "abra app deploy: exit 3: last words"),
])
def test_a_failed_call_is_named_by_its_fata_line_else_its_last_line(
    exit_code: int, output: str, expected: str | None
) -> None:
    error = error_of(AbraCall(["abra", "app", "deploy", "x"], exit_code, output))
    assert (str(error) if error else None) == expected


def test_the_terminal_text_comes_back_without_colours_or_carriage_returns(tmp_path: Path) -> None:
    exit_code, output = run_in_pty(["printf", "\\033[31mFATA\\033[0m red\\r\\n"], env={"PATH": os.environ["PATH"]})
    assert (exit_code, output) == (0, "FATA red\n")


def test_a_missing_abra_is_bad_input_with_one_line_saying_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no abra anywhere
    with pytest.raises(BadInput) as raised:
        find_abra()
    assert raised.value.exit_code == EXIT_BAD_INPUT == 2
    message = str(raised.value)
    assert "\n" not in message and "no `abra` on PATH" in message and "install abra" in message


def test_a_missing_abra_stops_new_app_before_the_run_dir_gets_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    driver = AbraDriver(DriverSettings(), target=None)  # type: ignore[arg-type]
    with pytest.raises(BadInput):
        driver.new_app("custom-html-tiny", tmp_path / "recipe", "r1", tmp_path / "run", "HEAD")
    assert not (tmp_path / "run").exists()


def test_the_output_of_a_call_that_prints_secrets_is_never_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "abra-prints"
    fake.write_text("#!/bin/sh\necho 'admin_password | Zx9SecretValue'\n")
    fake.chmod(0o755)
    abra = _abra(tmp_path, monkeypatch, fake)
    (tmp_path / "abra").mkdir()
    abra("app", "new", "r", prints_secrets=True)
    log = (tmp_path / "logs" / "abra.log").read_text()
    assert "Zx9SecretValue" not in log and cli.WITHHELD in log


class _Service:
    def __init__(self, name: str, secrets: list[dict[str, Any]]) -> None:
        self.name = name
        self.attrs = {"Spec": {"TaskTemplate": {"ContainerSpec": {"Secrets": secrets}}}}


class _Target:
    """A target whose client lists the services (`client.services.list`) and whose exec reads a secret."""

    def __init__(self, services: list[_Service]) -> None:
        self.client = self
        self.services = self
        self._listed = services
        self.read: list[tuple[str, list[str]]] = []

    def exec_in(self, app: App, service: str, cmd: Sequence[str], **_: Any) -> ExecResult:
        self.read.append((service, list(cmd)))
        return ExecResult(0, "Qm4generatedByAbra\n", "")

    def list(self, filters: dict[str, str] | None = None) -> Sequence[_Service]:  # client.services.list
        return self._listed


def test_secret_values_abra_generated_are_read_where_mounted_and_masked(tmp_path: Path) -> None:
    stack = "app-1_ccci_test"
    target = _Target([_Service(f"{stack}_app", [
        {"SecretName": f"{stack}_admin_password_v1", "File": {"Name": "admin_password"}},
        {"SecretName": "someone_elses_v1", "File": {"Name": "other"}},  # not the app's: never read
    ])])
    app = App(recipe="r", run_id="1", domain="app-1.ccci.test", stack=stack, checkout=tmp_path,
              run_dir=tmp_path, env={})
    AbraDriver(DriverSettings(), target)._scrub_secret_values(app)  # type: ignore[arg-type]
    assert target.read == [("app", ["cat", "/run/secrets/admin_password"])]
    assert scrubber.scrub("password: Qm4generatedByAbra") == f"password: {MASK}"


class _Secret:
    def __init__(self, name: str) -> None:
        self.name = name


def test_a_secret_version_the_swarm_lacks_is_generated_through_abra_and_no_other(tmp_path: Path) -> None:
    stack = "app-1_ccci_test"
    target = _Target([])
    target.secrets = target  # type: ignore[attr-defined]
    target._listed = [_Secret(f"{stack}_admin_password_v1"), _Secret(f"{stack}_db_password_v1")]  # type: ignore[list-item]
    app = App(recipe="r", run_id="1", domain="app-1.ccci.test", stack=stack, checkout=tmp_path, run_dir=tmp_path,
              env={}, secrets=[SecretSpec("admin_password", "v1", 24), SecretSpec("db_password", "v2", 32)])
    called: list[tuple[str, ...]] = []
    AbraDriver(DriverSettings(), target)._generate_missing_secrets(  # type: ignore[arg-type]
        app, lambda *args, **_: called.append(args))  # type: ignore[arg-type]
    assert called == [("app", "secret", "generate", "--no-input", "--offline", app.domain, "db_password", "v2")]


# -- backup-bot-two's download, as the run reads it ------------------------------------------------

def _tar(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _download(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as out:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("prefix", ["var/lib/docker/volumes/s_content/_data/", "_data/", ""],
                         ids=["restic-0.14-from-the-root", "from-the-volume-dir", "from-the-data-dir"])
def test_each_volumes_dump_in_the_bots_download_lands_under_its_volume_root(tmp_path: Path, prefix: str) -> None:
    dump = _tar({f"{prefix}index.html": b"<h1>hi</h1>", f"{prefix}sub/a.txt": b"a"})
    download = _download(tmp_path / "backup.tar.gz", {"s_content.tar": dump, "s_other.tar": _tar({"x": b"x"})})
    staging = tmp_path / "staging"
    staging.mkdir()
    backupbot.unpack_download(download, staging, {"s_content"})  # s_other is no volume of this app
    root = staging / "var/lib/docker/volumes/s_content/_data"
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == ["index.html", "sub/a.txt"]
    assert (root / "index.html").read_bytes() == b"<h1>hi</h1>"
    assert int((root / "index.html").stat().st_mtime) == 1_700_000_000  # the read-back judges by it
    assert not (staging / "var/lib/docker/volumes/s_other").exists()


def test_the_secrets_in_the_bots_download_are_masked_and_never_kept(tmp_path: Path) -> None:
    value = "bot-secret-" + os.urandom(6).hex()
    download = _download(tmp_path / "backup.tar.gz", {"s_content.tar": _tar({"_data/a": b"a"}),
                                                      "secrets.json": json.dumps({"db_password": value}).encode()})
    staging = tmp_path / "staging"
    staging.mkdir()
    backupbot.unpack_download(download, staging, {"s_content"})
    assert scrubber.scrub(f"the password is {value}") == f"the password is {MASK}"
    assert [p for p in staging.rglob("*") if p.is_file() and value.encode() in p.read_bytes()] == []


def test_a_dump_reaching_out_of_its_volume_is_refused(tmp_path: Path) -> None:
    download = _download(tmp_path / "backup.tar.gz", {"s_content.tar": _tar({"../../../../escaped": b"x"})})
    staging = tmp_path / "staging"
    staging.mkdir()
    with pytest.raises(safetar.UnsafeMember):
        backupbot.unpack_download(download, staging, {"s_content"})
    assert not list(tmp_path.rglob("escaped"))


def test_the_bots_snapshot_id_is_restics_saved_line_else_its_latest() -> None:
    printed = "pre-hook on app: exit 0\nprocessed 3 files, 1.2 KiB in 0:00\nsnapshot 443eb3f2 saved\n"
    assert backupbot._SAVED.findall(printed) == ["443eb3f2"]
    assert backupbot._SAVED.findall("Backup finished") == []
