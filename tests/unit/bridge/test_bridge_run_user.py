"""A local run cannot read the bridge's secrets: the bridge drops its secret env vars from its own
environment once loaded, and with `executor.run_user` starts each run as another Unix user, who
can read neither /proc/<bridge pid>/environ nor the bridge's secret files (mode 0600)."""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.bridge.config import LocalExecutorConfig
from runner.bridge.executors.local import resolve_run_user
from runner.errors import BadInput
from tests.unit.bridge.bridge_standins import StandinForge
from tests.unit.bridge.support import (
    FAKE_RUN,
    FORGE_TOKEN,
    REPO,
    WEBHOOK_SECRET,
    BridgeProcess,
    FakeRuns,
    config_data,
    free_port,
    wait_until,
)

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("useradd"),
    reason="creating a throwaway Unix user needs root and useradd",
)


def environ_of(pid: int) -> bytes:
    return Path(f"/proc/{pid}/environ").read_bytes()


def test_the_bridge_keeps_no_secret_in_its_own_environment(
    bridge_proc: BridgeProcess, standin_forge: StandinForge, fake_runs: FakeRuns
) -> None:
    bridge_proc.start()
    assert bridge_proc.proc is not None
    environ = environ_of(bridge_proc.proc.pid)  # read as root: what any same-user process sees
    assert FORGE_TOKEN.encode() not in environ
    assert WEBHOOK_SECRET.encode() not in environ
    assert b"PATH=" in environ  # the rest of the environment is untouched
    bridge_proc.deliver_comment(standin_forge, 1)
    wait_until(lambda: fake_runs.invocations(), what="run to start")  # it still works


@pytest.fixture
def run_user() -> Iterator[pwd.struct_passwd]:
    name = f"ccci-run-{secrets.token_hex(3)}"
    subprocess.run(
        [
            "useradd",
            "--system",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)


def interpreter_for(user: pwd.struct_passwd) -> str:
    """A Python the run user may execute (this venv may live under root's 0700 home)."""
    for candidate in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
        try:
            started = subprocess.run(
                [candidate, "-c", "pass"],
                user=user.pw_uid,
                group=user.pw_gid,
                cwd="/",
                capture_output=True,
                check=False,
            )
        except OSError:
            continue
        if started.returncode == 0:
            return candidate
    pytest.skip(f"no Python interpreter that {user.pw_name} may execute")


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    # pytest's tmp_path is 0700 root: the run user could not even reach files inside it.
    path = Path(tempfile.mkdtemp(prefix="ccci-run-user-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@needs_root
def test_a_run_as_another_user_cannot_read_the_bridges_secrets(
    tmp_path: Path, standin_forge: StandinForge, run_user: pwd.struct_passwd, shared_dir: Path
) -> None:
    secret_file = shared_dir / "forge-token"
    secret_file.write_text(FORGE_TOKEN + "\n")
    secret_file.chmod(0o600)  # owned by the bridge's user (root here), as docs/bridge.md says
    out = shared_dir / "out"  # where the fake run writes what it saw
    out.mkdir()
    os.chown(out, run_user.pw_uid, run_user.pw_gid)
    fake = FakeRuns(out / "runs.jsonl", out / "hold", shared_dir / "runs")
    config = config_data(
        tmp_path,
        standin_forge.url,
        fake,
        webhook={"port": free_port()},
        executor={
            "run_user": run_user.pw_name,
            "command": [interpreter_for(run_user), str(FAKE_RUN)],
            "env": {"FAKE_RUN_PROBE": str(secret_file)},
        },
    )
    config["forge"]["token"] = {"file": str(secret_file)}
    bridge = BridgeProcess(tmp_path, config)
    try:
        bridge.start()
        bridge.deliver_comment(standin_forge, 1)
        wait_until(
            lambda: "passed" in " ".join(c["body"] for c in standin_forge.bot_comments(REPO, 1)),
            timeout=30,
            what="run reported",
        )
    finally:
        bridge.stop()

    run = fake.invocations()[0]
    assert run["uid"] == run_user.pw_uid
    assert bridge.proc is not None
    assert run["probes"] == {
        f"/proc/{bridge.proc.pid}/environ": "PermissionError",
        str(secret_file): "PermissionError",
    }
    assert secret_file.read_text().strip() == FORGE_TOKEN  # the file was there, only unreadable
    assert (shared_dir / "runs").stat().st_uid == run_user.pw_uid  # created for the runs
    for path in [*out.iterdir(), *(tmp_path / "state" / "logs").iterdir(), bridge.log]:
        text = path.read_text(errors="replace")
        assert FORGE_TOKEN not in text and WEBHOOK_SECRET not in text
    assert (
        json.loads((shared_dir / "runs" / run["CCCI_RUN_ID"] / "results.json").read_text())[
            "verdict"
        ]
        == "pass"
    )


@needs_root
def test_run_user_is_checked_when_the_bridge_starts(
    run_user: pwd.struct_passwd, tmp_path: Path
) -> None:
    assert resolve_run_user(run_user.pw_name).uid == run_user.pw_uid  # type: ignore[union-attr]
    with pytest.raises(BadInput, match="executor.run_user: no such user 'no-such-ccci-user'"):
        resolve_run_user("no-such-ccci-user")
    assert resolve_run_user(LocalExecutorConfig().run_user) is None
