"""`cc-ci bridge --check`: check what a job will need before the first `!testme` needs it.

Each check is one line: `ok: …` or `error: <config field>: <what is wrong and what to fix>`, and
each kind of failure has its own exit code, so a deploy script can tell them apart. Permissions
are checked *as the run user* (a child process with its uid and groups), never with
`os.access` in a root bridge: root passes every read and write check, the run user does not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from runner.bridge.config import BridgeConfig, DroneExecutorConfig, LocalExecutorConfig
from runner.bridge.executors.drone import (
    DroneAuthError,
    DroneError,
    DroneExecutor,
    DroneRepoNotFound,
    DroneUser,
)
from runner.bridge.executors.local import RunUser, resolve_run_user
from runner.bridge.forge import ForgeAuthError, ForgeClient, ForgeError

EXIT_TOKEN_REJECTED = 10
EXIT_FORGE_UNREACHABLE = 11
EXIT_NO_COMMAND = 12
EXIT_NO_WORKDIR = 13
EXIT_RUN_USER_CANNOT_EXECUTE = 14
EXIT_RUN_USER_CANNOT_READ_CHECKOUT = 15
EXIT_RUNS_DIR_NOT_WRITABLE = 16
EXIT_STATE_DIR_NOT_WRITABLE = 17
EXIT_DRONE_TOKEN_REJECTED = 18
EXIT_DRONE_UNREACHABLE = 19
EXIT_DRONE_REPO_UNUSABLE = 20

SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class Finding:
    line: str
    exit_code: int = 0  # 0: the check passed

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def __str__(self) -> str:
        return f"{'ok' if self.ok else 'error'}: {self.line}"


def check_forge(forge: ForgeClient, url: str) -> Finding:
    try:
        login = forge.whoami()
    except ForgeAuthError as err:
        code = str(err).split("(HTTP ", 1)[-1].split(")", 1)[0]
        return Finding(
            f"forge.token: the forge at {url} rejects the token (HTTP {code}); give a valid "
            "token of the bot account",
            EXIT_TOKEN_REJECTED,
        )
    except ForgeError as err:
        return Finding(
            f"forge.url: cannot ask {url} who the token belongs to ({err}); check the URL and "
            "that the forge is reachable from here",
            EXIT_FORGE_UNREACHABLE,
        )
    return Finding(f"forge token accepted: it is the token of user {login!r}")


def check_drone(drone: DroneExecutor, cfg: DroneExecutorConfig) -> Iterator[Finding]:
    """Drone accepts the token (naming its user), then the token's user can build `cfg.repo`."""
    try:
        user = drone.whoami()
    except DroneAuthError as err:
        yield Finding(
            f"executor.token: Drone rejected the token (HTTP {err.status} from "
            f"{cfg.url}/api/user); give the token of a Drone user with write access to "
            f"{cfg.repo} (Drone: User settings → Token)",
            EXIT_DRONE_TOKEN_REJECTED,
        )
        return
    except DroneError as err:
        yield Finding(
            f"executor.url: cannot ask Drone at {cfg.url} who the token belongs to ({err}); check "
            "the URL (Drone's own, without /api) and that Drone is reachable from here",
            EXIT_DRONE_UNREACHABLE,
        )
        return
    yield Finding(f"Drone token accepted: it is the token of user {user.login!r}")
    yield _check_drone_repo(drone, cfg, user)


def _check_drone_repo(drone: DroneExecutor, cfg: DroneExecutorConfig, user: DroneUser) -> Finding:
    try:
        repo = drone.repo_info()
    except DroneRepoNotFound:
        return Finding(
            f"executor.repo: Drone at {cfg.url} has no repo {cfg.repo} that user {user.login!r} "
            "can see (HTTP 404): activate the repo in Drone, or give the token of a user with "
            "access to it on the forge (Drone takes its users' access from the forge)",
            EXIT_DRONE_REPO_UNUSABLE,
        )
    except DroneError as err:
        return Finding(
            f"executor.repo: cannot ask Drone at {cfg.url} about {cfg.repo} ({err}); check that "
            "Drone is answering",
            EXIT_DRONE_UNREACHABLE,
        )
    if not repo.active:
        return Finding(
            f"executor.repo: {cfg.repo} is known to Drone but not activated, so it runs no builds; "
            "activate it in Drone (the repo's Settings → Activate)",
            EXIT_DRONE_REPO_UNUSABLE,
        )
    # Creating a build needs write access to the repo; Drone lets an admin user past that.
    if repo.can_write is False and not user.admin:
        return Finding(
            f"executor.repo: user {user.login!r} can read {cfg.repo} in Drone but not write to it, "
            "and only writers can create builds; give that user write access to the repo on the "
            "forge, or use the token of a user who has it",
            EXIT_DRONE_REPO_UNUSABLE,
        )
    return Finding(f"executor.repo: user {user.login!r} can create builds of {repo.slug} on Drone")


def resolve_command(executable: str, workdir: Path, env: dict[str, str]) -> Path | None:
    """Where the run's executable is, as Popen(cwd=workdir) would find it; None if nowhere."""
    if "/" in executable:
        path = Path(executable) if Path(executable).is_absolute() else workdir / executable
        return path if path.is_file() else None
    found = shutil.which(executable, path=env.get("PATH", os.environ.get("PATH", SAFE_PATH)))
    return Path(found) if found else None


def as_user(user: RunUser | None, script: str, *args: str) -> bool:
    """Does `sh -c script` succeed as the run user (or as the bridge's own user)?"""
    result = subprocess.run(
        ["/bin/sh", "-c", script, "sh", *args],
        env={"PATH": SAFE_PATH},
        cwd="/",
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=30,
        user=user.uid if user else None,
        group=user.gid if user else None,
        extra_groups=list(user.groups) if user else None,
    )
    return result.returncode == 0


def writable_dir(path: Path, user: RunUser | None) -> bool:
    """Can `user` create a file in `path`? Tried for real: a file is made and removed."""
    return as_user(user, 'f=$(mktemp -p "$1" .cc-ci-check.XXXXXX) && rm -f "$f"', str(path))


def nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_local_executor(cfg: LocalExecutorConfig) -> Iterator[Finding]:
    user = resolve_run_user(cfg.run_user)
    who = f"run user {user.name!r}" if user else "the bridge's user"
    executable = cfg.command[0]
    command = resolve_command(executable, cfg.workdir, cfg.env)
    if command is None:
        yield Finding(
            f"executor.command: {executable} does not exist (looked for in "
            f"{'the workdir' if '/' in executable else 'PATH'}); give the path of the Python "
            "that runs cc-ci, e.g. /opt/cc-ci/.venv/bin/python",
            EXIT_NO_COMMAND,
        )
    if not cfg.workdir.is_dir():
        yield Finding(
            f"executor.workdir: {cfg.workdir} is not a directory; give the cc-ci checkout",
            EXIT_NO_WORKDIR,
        )
    if command is not None:
        if as_user(user, 'test -x "$1"', str(command)):
            yield Finding(f"executor.command: {who} can execute {command}")
        else:
            yield Finding(
                f"executor.command: {who} cannot execute {command}; make it and every "
                "directory above it readable and searchable by that user (a venv under "
                "root's 0700 home is not: install cc-ci under /opt)",
                EXIT_RUN_USER_CANNOT_EXECUTE,
            )
    if cfg.workdir.is_dir():
        if as_user(user, 'test -r "$1" && test -x "$1"', str(cfg.workdir)):
            yield Finding(f"executor.workdir: {who} can read {cfg.workdir}")
        else:
            yield Finding(
                f"executor.workdir: {who} cannot read {cfg.workdir}; make the checkout and the "
                "directories above it readable and searchable by that user",
                EXIT_RUN_USER_CANNOT_READ_CHECKOUT,
            )
    yield check_runs_dir(cfg.runs_dir, user, who)


def check_runs_dir(runs_dir: Path, user: RunUser | None, who: str) -> Finding:
    if runs_dir.is_dir():
        if writable_dir(runs_dir, user):
            return Finding(f"executor.runs_dir: {who} can write to {runs_dir}")
        return Finding(
            f"executor.runs_dir: {who} cannot write to {runs_dir}; give it to that user "
            f"(chown) or pick another directory",
            EXIT_RUNS_DIR_NOT_WRITABLE,
        )
    # The executor creates a missing runs dir (owned by the run user) before the first run.
    parent = nearest_existing(runs_dir)
    if parent.is_dir() and writable_dir(parent, None):
        return Finding(f"executor.runs_dir: {runs_dir} does not exist yet; the bridge creates it")
    return Finding(
        f"executor.runs_dir: {runs_dir} does not exist and the bridge cannot create it in "
        f"{parent}; create it, writable by {who}",
        EXIT_RUNS_DIR_NOT_WRITABLE,
    )


def check_state_dir(state_dir: Path) -> Finding:
    target = state_dir if state_dir.is_dir() else nearest_existing(state_dir)
    if target.is_dir() and writable_dir(target, None):
        return Finding(f"state_dir: the bridge can write to {target}")
    return Finding(
        f"state_dir: the bridge cannot write to {target}; create {state_dir} owned by the "
        "bridge's user",
        EXIT_STATE_DIR_NOT_WRITABLE,
    )


def run_checks(
    cfg: BridgeConfig, forge: ForgeClient, drone: DroneExecutor | None = None
) -> list[Finding]:
    findings = [check_forge(forge, cfg.forge.url), check_state_dir(cfg.state_dir)]
    if isinstance(cfg.executor, LocalExecutorConfig):
        findings.extend(check_local_executor(cfg.executor))
    else:
        assert drone is not None, "a drone executor is checked through its client"
        findings.extend(check_drone(drone, cfg.executor))
    return findings


def exit_code(findings: list[Finding]) -> int:
    """The first failure's code; 0 when every check passed."""
    return next((finding.exit_code for finding in findings if not finding.ok), 0)
