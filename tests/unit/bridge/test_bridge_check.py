"""`cc-ci bridge --check` checks what a job will need: the forge accepts the token (one call,
naming its user), the run command and workdir exist, the run user can execute the command and
read the checkout, the runs dir is writable; with the drone executor, Drone accepts its token
(naming its user) and that user can create builds of the configured repo. Each failure is one
line naming what to fix, with its own exit code; permissions are tried as the run user, not
judged by a root bridge."""

from __future__ import annotations

import argparse
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.bridge import command, preflight
from tests.unit.bridge.bridge_standins import StandinDrone, StandinForge
from tests.unit.bridge.support import DRONE_TOKEN, FORGE_TOKEN, RECIPE, REPO

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("useradd"),
    reason="creating a throwaway Unix user needs root and useradd",
)


def write_config(tmp_path: Path, forge_url: str, **executor: Any) -> Path:
    data = {
        "forge": {"url": forge_url, "token": {"env": "CHECK_TEST_FORGE_TOKEN"}},
        "webhook": {"secret": {"env": "CHECK_TEST_WEBHOOK_SECRET"}},
        "repos": {REPO: RECIPE},
        "state_dir": str(tmp_path / "state"),
        "executor": {"kind": "local", "runs_dir": str(tmp_path / "runs"), **executor},
    }
    path = tmp_path / "bridge.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def run_check(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    token: str = FORGE_TOKEN,
) -> tuple[int, list[str]]:
    monkeypatch.setenv("CHECK_TEST_FORGE_TOKEN", token)
    monkeypatch.setenv("CHECK_TEST_WEBHOOK_SECRET", "hook-secret-value")
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    code = command.main(parser.parse_args(["--config", str(config), "--check"]))
    return code, capsys.readouterr().out.splitlines()


def errors(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("error: ")]


def test_check_passes_names_the_tokens_user_and_shows_no_secret(
    tmp_path: Path,
    forge: StandinForge,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, lines = run_check(write_config(tmp_path, forge.url), monkeypatch, capsys)

    assert code == 0, lines
    assert errors(lines) == []
    assert "ok: forge token accepted: it is the token of user 'cc-ci-bot'" in lines
    assert lines[-1] == "bridge config OK: 1 enrolled repo(s), executor local"
    assert len(forge.calls_to("GET", "/api/v1/user")) == 1  # one authenticated call
    out = "\n".join(lines)
    assert FORGE_TOKEN not in out and "hook-secret-value" not in out


def test_check_asks_the_forge_about_each_enrolled_repo(
    tmp_path: Path,
    forge: StandinForge,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, lines = run_check(write_config(tmp_path, forge.url), monkeypatch, capsys)

    assert code == 0, lines
    assert f"ok: repos.{REPO}: reachable; the bot 'cc-ci-bot' may write commit statuses" in lines
    assert f"ok: repos.{REPO}: the bot 'cc-ci-bot' can see who is a member of coop-cloud" in lines
    assert f"ok: repos.{REPO}: the forge publishes refs/pull/1/head (PR #1), which runs fetch" in lines
    assert forge.calls_to("GET", "/api/v1/orgs/coop-cloud/members/cc-ci-bot")


@pytest.mark.parametrize(("breakage", "code", "says"), [
    (lambda f: f.missing_repos.add(REPO), "EXIT_REPO_UNREACHABLE",
     f"error: repos.{REPO}: the forge at {{url}} has no repo {REPO} that the bot 'cc-ci-bot' can see (HTTP 404)"),
    (lambda f: f.read_only_repos.add(REPO), "EXIT_CANNOT_WRITE_STATUSES",
     f"error: repos.{REPO}: the bot 'cc-ci-bot' can read {REPO} but not write to it, and commit statuses need write access"),
    (lambda f: setattr(f, "membership_visible", False), "EXIT_MEMBERSHIP_HIDDEN",
     f"error: repos.{REPO}: the bot 'cc-ci-bot' is not a member of coop-cloud, so the forge hides private memberships"),
    (lambda f: f.unpublished_pull_refs.add(REPO), "EXIT_REPO_NO_PULL_REFS",
     f"error: repos.{REPO}: the forge does not publish refs/pull/1/head for PR #1"),
])
def test_an_enrolled_repo_the_bot_cannot_use_fails_in_one_line_naming_what_to_fix(
    tmp_path: Path,
    forge: StandinForge,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    breakage: Callable[[StandinForge], object],
    code: str,
    says: str,
) -> None:
    breakage(forge)

    got, lines = run_check(write_config(tmp_path, forge.url), monkeypatch, capsys)

    assert got == getattr(preflight, code, "no such exit code yet"), lines
    (line,) = errors(lines)
    assert line.startswith(says.format(url=forge.url)), line


def test_a_user_owned_repo_without_pull_requests_passes_and_says_what_it_could_not_check(
    tmp_path: Path,
    forge: StandinForge,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    forge.user_owners.add("coop-cloud")
    forge.pulls.clear()

    code, lines = run_check(write_config(tmp_path, forge.url), monkeypatch, capsys)

    assert code == 0, lines
    assert f"ok: repos.{REPO}: coop-cloud is a user, not an organisation: its owner and the allowlist may start runs" in lines
    assert f"ok: repos.{REPO}: no pull request yet; refs/pull/<n>/head is checked once there is one" in lines


def test_a_rejected_token_is_named_as_a_bad_token(
    tmp_path: Path,
    forge: StandinForge,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, lines = run_check(
        write_config(tmp_path, forge.url), monkeypatch, capsys, token="not-the-token"
    )

    assert code == preflight.EXIT_TOKEN_REJECTED
    assert errors(lines) == [
        f"error: forge.token: the forge at {forge.url} rejects the token (HTTP 401); give a "
        "valid token of the bot account"
    ]


def test_an_unreachable_forge_is_not_called_a_bad_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = run_check(write_config(tmp_path, "http://127.0.0.1:9"), monkeypatch, capsys)

    assert code == preflight.EXIT_FORGE_UNREACHABLE
    (line,) = errors(lines)
    assert line.startswith("error: forge.url: cannot ask http://127.0.0.1:9")


def test_a_missing_command_fails_in_one_line(
    tmp_path: Path,
    forge: StandinForge,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    missing = tmp_path / "venv" / "bin" / "python"
    config = write_config(tmp_path, forge.url, command=[str(missing), "-m", "runner.run_recipe_ci"])

    code, lines = run_check(config, monkeypatch, capsys)

    assert code == preflight.EXIT_NO_COMMAND
    (line,) = errors(lines)
    assert line.startswith(f"error: executor.command: {missing} does not exist")


def test_a_command_not_on_path_fails(
    tmp_path: Path,
    forge: StandinForge,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, forge.url, command=["no-such-ccci-python", "-m", "x"])

    code, lines = run_check(config, monkeypatch, capsys)

    assert code == preflight.EXIT_NO_COMMAND
    assert errors(lines) and "looked for in PATH" in errors(lines)[0]


def test_a_missing_workdir_fails_in_one_line(
    tmp_path: Path,
    forge: StandinForge,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, forge.url, workdir=str(tmp_path / "no-checkout"))

    code, lines = run_check(config, monkeypatch, capsys)

    assert code == preflight.EXIT_NO_WORKDIR
    assert errors(lines) == [
        f"error: executor.workdir: {tmp_path / 'no-checkout'} is not a directory; give the "
        "cc-ci checkout"
    ]


@pytest.fixture
def run_user() -> Iterator[pwd.struct_passwd]:
    name = f"ccci-chk-{secrets.token_hex(3)}"
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
         "--shell", "/usr/sbin/nologin", name],
        check=True,
        capture_output=True,
    )
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    # pytest's tmp_path is 0700 root: the run user could not even reach files inside it.
    path = Path(tempfile.mkdtemp(prefix="ccci-check-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def interpreter_in(directory: Path, user: pwd.struct_passwd) -> Path:
    """A Python inside `directory`, as a venv's bin/python is: a symlink to a real one that the
    run user can execute, so that only `directory`'s own mode decides."""
    run_user = preflight.resolve_run_user(user.pw_name)
    for candidate in (os.path.realpath(sys.executable), "/usr/bin/python3", "/usr/local/bin/python3"):
        if os.path.exists(candidate) and preflight.as_user(run_user, 'test -x "$1"', candidate):
            break
    else:
        pytest.skip(f"no Python interpreter that {user.pw_name} may execute")
    (directory / "bin").mkdir(parents=True)
    link = directory / "bin" / "python"
    link.symlink_to(os.path.realpath(candidate))
    return link


def a_checkout(shared_dir: Path, user: pwd.struct_passwd) -> tuple[Path, Path]:
    checkout = shared_dir / "checkout"
    checkout.mkdir(mode=0o755)
    runs = shared_dir / "runs"
    runs.mkdir()
    os.chown(runs, user.pw_uid, user.pw_gid)
    return checkout, runs


@needs_root
def test_a_run_user_who_can_execute_the_interpreter_passes(
    tmp_path: Path,
    forge: StandinForge,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    run_user: pwd.struct_passwd,
    shared_dir: Path,
) -> None:
    checkout, runs = a_checkout(shared_dir, run_user)
    venv = shared_dir / "venv"
    venv.mkdir(mode=0o755)
    python = interpreter_in(venv, run_user)
    config = write_config(
        tmp_path, forge.url, run_user=run_user.pw_name, command=[str(python), "-m", "x"],
        workdir=str(checkout), runs_dir=str(runs),
    )

    code, lines = run_check(config, monkeypatch, capsys)

    assert code == 0, lines
    assert f"ok: executor.command: run user '{run_user.pw_name}' can execute {python}" in lines
    assert f"ok: executor.runs_dir: run user '{run_user.pw_name}' can write to {runs}" in lines


@needs_root
def test_a_run_user_who_cannot_read_the_interpreter_fails_though_root_could(
    tmp_path: Path,
    forge: StandinForge,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    run_user: pwd.struct_passwd,
    shared_dir: Path,
) -> None:
    checkout, runs = a_checkout(shared_dir, run_user)
    venv = shared_dir / "venv"
    venv.mkdir(mode=0o700)  # a venv under root's 0700 home, as the issue found it
    python = interpreter_in(venv, run_user)
    assert os.access(python, os.X_OK)  # what a root bridge asking os.access would be told
    config = write_config(
        tmp_path, forge.url, run_user=run_user.pw_name, command=[str(python), "-m", "x"],
        workdir=str(checkout), runs_dir=str(runs),
    )

    code, lines = run_check(config, monkeypatch, capsys)

    assert code == preflight.EXIT_RUN_USER_CANNOT_EXECUTE
    (line,) = errors(lines)
    assert line.startswith(
        f"error: executor.command: run user '{run_user.pw_name}' cannot execute {python}"
    )


@needs_root
def test_a_venv_whose_python_links_into_a_closed_home_names_that_directory_not_opt(
    tmp_path: Path,
    forge: StandinForge,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    run_user: pwd.struct_passwd,
    shared_dir: Path,
) -> None:
    # The host: /opt/cc-ci/.venv/bin/python -> /root/.pyenv/versions/…/python3 (a pyenv
    # build under root's 0700 home). The venv itself is open; the Python it links to is not.
    checkout, runs = a_checkout(shared_dir, run_user)
    real = interpreter_in(shared_dir / "system", run_user)  # a Python the run user may execute
    home = shared_dir / "home"
    (home / "pyenv" / "bin").mkdir(parents=True)
    home.chmod(0o700)
    pyenv_python = home / "pyenv" / "bin" / "python3"
    pyenv_python.symlink_to(real)
    venv = shared_dir / "opt-cc-ci" / ".venv" / "bin"
    venv.mkdir(parents=True)
    python = venv / "python"
    python.symlink_to(pyenv_python)
    config = write_config(
        tmp_path, forge.url, run_user=run_user.pw_name, command=[str(python), "-m", "x"],
        workdir=str(checkout), runs_dir=str(runs),
    )

    code, lines = run_check(config, monkeypatch, capsys)

    assert code == preflight.EXIT_RUN_USER_CANNOT_EXECUTE
    (line,) = errors(lines)
    assert line.startswith(
        f"error: executor.command: run user '{run_user.pw_name}' cannot execute {python} "
        f"(it resolves to {os.path.realpath(real)}: {python} -> {pyenv_python}, "
    ), line
    assert f": the directory {home} is drwx------ root:root and that user cannot search it;" in line
    assert "install cc-ci under /opt" not in line  # the old advice, which the venv already followed


@needs_root
def test_a_run_user_who_cannot_read_the_checkout_fails(
    tmp_path: Path,
    forge: StandinForge,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    run_user: pwd.struct_passwd,
    shared_dir: Path,
) -> None:
    checkout, runs = a_checkout(shared_dir, run_user)
    checkout.chmod(0o700)
    config = write_config(
        tmp_path, forge.url, run_user=run_user.pw_name, command=["/bin/sh"],
        workdir=str(checkout), runs_dir=str(runs),
    )

    code, lines = run_check(config, monkeypatch, capsys)

    assert code == preflight.EXIT_RUN_USER_CANNOT_READ_CHECKOUT
    (line,) = errors(lines)
    assert line.startswith(f"error: executor.workdir: run user '{run_user.pw_name}' cannot read")


@needs_root
def test_a_runs_dir_the_run_user_cannot_write_fails(
    tmp_path: Path,
    forge: StandinForge,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    run_user: pwd.struct_passwd,
    shared_dir: Path,
) -> None:
    checkout, runs = a_checkout(shared_dir, run_user)
    os.chown(runs, 0, 0)  # root's, 0755: root could write there, the run user cannot
    config = write_config(
        tmp_path, forge.url, run_user=run_user.pw_name, command=["/bin/sh"],
        workdir=str(checkout), runs_dir=str(runs),
    )

    code, lines = run_check(config, monkeypatch, capsys)

    assert code == preflight.EXIT_RUNS_DIR_NOT_WRITABLE
    (line,) = errors(lines)
    assert line.startswith(f"error: executor.runs_dir: run user '{run_user.pw_name}' cannot write")


CI_REPO = "coop-cloud/cc-ci"


def write_drone_config(tmp_path: Path, forge_url: str, drone_url: str) -> Path:
    path = write_config(tmp_path, forge_url)
    data = yaml.safe_load(path.read_text())
    data["executor"] = {
        "kind": "drone",
        "url": drone_url,
        "token": {"env": "CHECK_TEST_DRONE_TOKEN"},
        "repo": CI_REPO,
    }
    path.write_text(yaml.safe_dump(data))
    return path


def run_drone_check(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    drone_token: str = DRONE_TOKEN,
) -> tuple[int, list[str]]:
    monkeypatch.setenv("CHECK_TEST_DRONE_TOKEN", drone_token)
    return run_check(config, monkeypatch, capsys)


def test_check_with_drone_names_the_drone_user_and_repo_and_shows_no_secret(
    tmp_path: Path,
    forge: StandinForge,
    drone: StandinDrone,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    drone.add_repo(CI_REPO)
    config = write_drone_config(tmp_path, forge.url, drone.url)

    code, lines = run_drone_check(config, monkeypatch, capsys)

    assert code == 0, lines
    assert errors(lines) == []
    assert "ok: Drone token accepted: it is the token of user 'cc-ci-drone'" in lines
    assert f"ok: executor.repo: user 'cc-ci-drone' can create builds of {CI_REPO} on Drone" in lines
    assert lines[-1] == "bridge config OK: 1 enrolled repo(s), executor drone"
    (user_call,) = drone.calls_to("GET", "/api/user")
    (repo_call,) = drone.calls_to("GET", f"/api/repos/{CI_REPO}")
    assert user_call.authorization == repo_call.authorization == f"Bearer {DRONE_TOKEN}"
    assert drone.calls_to("POST") == []  # checking makes no build
    out = "\n".join(lines)
    assert DRONE_TOKEN not in out and FORGE_TOKEN not in out


def test_a_token_drone_rejects_is_named_as_a_bad_drone_token(
    tmp_path: Path,
    forge: StandinForge,
    drone: StandinDrone,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    drone.add_repo(CI_REPO)

    code, lines = run_drone_check(
        write_drone_config(tmp_path, forge.url, drone.url), monkeypatch, capsys,
        drone_token="not-the-drone-token",
    )

    assert code == preflight.EXIT_DRONE_TOKEN_REJECTED
    assert errors(lines) == [
        f"error: executor.token: Drone rejected the token (HTTP 401 from {drone.url}/api/user); "
        f"give the token of a Drone user with write access to {CI_REPO} (Drone: User settings "
        "→ Token)"
    ]
    assert "ok: forge token accepted: it is the token of user 'cc-ci-bot'" in lines
    assert drone.calls_to("GET", "/api/repos/") == []  # no second line blaming the repo
    assert "not-the-drone-token" not in "\n".join(lines)


def test_a_repo_drone_does_not_show_the_user_is_named_in_one_line(
    tmp_path: Path,
    forge: StandinForge,
    drone: StandinDrone,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_drone_config(tmp_path, forge.url, drone.url)

    code, lines = run_drone_check(config, monkeypatch, capsys)

    assert code == preflight.EXIT_DRONE_REPO_UNUSABLE
    assert "ok: Drone token accepted: it is the token of user 'cc-ci-drone'" in lines
    assert errors(lines) == [
        f"error: executor.repo: Drone at {drone.url} has no repo {CI_REPO} that user "
        "'cc-ci-drone' can see (HTTP 404): activate the repo in Drone, or give the token of a "
        "user with access to it on the forge (Drone takes its users' access from the forge)"
    ]


def test_an_unreachable_drone_is_not_called_a_bad_token(
    tmp_path: Path,
    forge: StandinForge,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_drone_config(tmp_path, forge.url, "http://127.0.0.1:9")

    code, lines = run_drone_check(config, monkeypatch, capsys)

    assert code == preflight.EXIT_DRONE_UNREACHABLE
    (line,) = errors(lines)
    assert line.startswith("error: executor.url: cannot ask Drone at http://127.0.0.1:9 who")


def test_a_url_that_is_not_drones_is_not_called_a_bad_token(
    tmp_path: Path,
    forge: StandinForge,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The forge's address given as Drone's: it answers /api/user, but not as Drone does.
    config = write_drone_config(tmp_path, forge.url, forge.url)

    code, lines = run_drone_check(config, monkeypatch, capsys)

    assert code == preflight.EXIT_DRONE_UNREACHABLE
    (line,) = errors(lines)
    assert line.startswith(f"error: executor.url: cannot ask Drone at {forge.url} who")


def test_a_repo_not_activated_in_drone_fails(
    tmp_path: Path,
    forge: StandinForge,
    drone: StandinDrone,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    drone.add_repo(CI_REPO, active=False)
    config = write_drone_config(tmp_path, forge.url, drone.url)

    code, lines = run_drone_check(config, monkeypatch, capsys)

    assert code == preflight.EXIT_DRONE_REPO_UNUSABLE
    (line,) = errors(lines)
    assert line.startswith(f"error: executor.repo: {CI_REPO} is known to Drone but not activated")


@pytest.mark.parametrize(
    ("admin", "code"), [(False, preflight.EXIT_DRONE_REPO_UNUSABLE), (True, 0)]
)
def test_a_user_who_can_only_read_the_repo_fails_unless_a_drone_admin(
    tmp_path: Path,
    forge: StandinForge,
    drone: StandinDrone,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    admin: bool,
    code: int,
) -> None:
    drone.add_repo(CI_REPO, write=False)
    drone.admin = admin  # Drone lets its admins create builds without write access
    config = write_drone_config(tmp_path, forge.url, drone.url)

    got, lines = run_drone_check(config, monkeypatch, capsys)

    assert got == code, lines
    if not admin:
        (line,) = errors(lines)
        assert line.startswith(
            f"error: executor.repo: user 'cc-ci-drone' can read {CI_REPO} in Drone but not write"
        )


def test_exit_codes_are_distinct_per_kind_of_failure() -> None:
    codes = [value for name, value in vars(preflight).items() if name.startswith("EXIT_")]
    assert len(codes) == len(set(codes)) and 0 not in codes and 2 not in codes


def test_the_walk_goes_on_where_the_bridge_may_not_look_inside_a_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The bridge's own user may not search a directory on the way (a 0700 home): lstat of what is
    # inside it is EACCES. The walk must still end (the run user's check then names the
    # directory); 3.11's Path.is_symlink let that PermissionError out as a traceback.
    closed = tmp_path / "home"
    (closed / "venv").mkdir(parents=True)
    real_stat, real_lstat = os.stat, os.lstat

    def refused(path: Any) -> None:
        if str(path).startswith(f"{closed}/"):
            raise PermissionError(13, "Permission denied", str(path))

    def stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        refused(path)
        return real_stat(path, *args, **kwargs)

    def lstat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        refused(path)
        return real_lstat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)  # pathlib's lstat on 3.11
    monkeypatch.setattr(os, "lstat", lstat)  # os.path.islink's
    walk = preflight.kernel_walk(closed / "venv" / "python")
    assert walk.end == closed / "venv" / "python" and closed in walk.searched and walk.links == ()
