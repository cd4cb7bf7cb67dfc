"""`cc-ci bridge --check`: check what a job will need before the first `!testme` needs it.

Each check is one line: `ok: …` or `error: <config field>: <what is wrong and what to fix>`, and
each kind of failure has its own exit code, so a deploy script can tell them apart. Permissions
are checked *as the run user* (a child process with its uid and groups), never with
`os.access` in a root bridge: root passes every read and write check, the run user does not.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.bridge.config import BridgeConfig, DroneExecutorConfig, LocalExecutorConfig
from runner.bridge.executors.drone import (
    DroneAuthError,
    DroneError,
    DroneExecutor,
    DroneRepoNotFound,
    DroneUser,
)
from runner.bridge.executors.local import RunUser, resolve_run_user
from runner.bridge.forge.client import ForgeAuthError, ForgeClient, ForgeError, RepoAccess

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
EXIT_REPO_UNREACHABLE = 21
EXIT_REPO_NO_PULL_REFS = 22
EXIT_MEMBERSHIP_HIDDEN = 23
EXIT_CANNOT_WRITE_STATUSES = 24

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


def check_forge(forge: ForgeClient, url: str) -> tuple[Finding, str | None]:
    """The token's user (one call), or why it cannot be known."""
    try:
        login = forge.whoami()
    except ForgeAuthError as err:
        code = str(err).split("(HTTP ", 1)[-1].split(")", 1)[0]
        return _without_login(Finding(
            f"forge.token: the forge at {url} rejects the token (HTTP {code}); give a valid "
            "token of the bot account",
            EXIT_TOKEN_REJECTED,
        ))
    except ForgeError as err:
        return _without_login(Finding(
            f"forge.url: cannot ask {url} who the token belongs to ({err}); check the URL and "
            "that the forge is reachable from here",
            EXIT_FORGE_UNREACHABLE,
        ))
    return Finding(f"forge token accepted: it is the token of user {login!r}"), login


def _without_login(finding: Finding) -> tuple[Finding, str | None]:
    return finding, None


def check_repos(forge: ForgeClient, cfg: BridgeConfig, bot: str) -> Iterator[Finding]:
    """Each enrolled repo, as the bot sees it through the API the bridge uses: it is there, the
    bot may write its commit statuses, the bot can see its organisation's members, and the
    forge publishes its PRs' heads as `refs/pull/<n>/head` (what runs fetch)."""
    for repo in sorted(cfg.repos):
        owner, name = repo.split("/", 1)
        try:
            access = forge.repo_access(owner, name)
            if access is None:
                yield Finding(
                    f"repos.{repo}: the forge at {cfg.forge.url} has no repo {repo} that the bot "
                    f"{bot!r} can see (HTTP 404); check the name, and give the bot access to it",
                    EXIT_REPO_UNREACHABLE,
                )
                continue
            yield _statuses_finding(repo, bot, access)
            yield _membership_finding(repo, owner, bot, forge.membership_visible(owner, bot))
            yield _pull_refs_finding(repo, forge)
        except ForgeError as err:
            yield Finding(f"repos.{repo}: cannot ask the forge about it ({err})", EXIT_REPO_UNREACHABLE)


def _statuses_finding(repo: str, bot: str, access: RepoAccess) -> Finding:
    if access.can_push:
        return Finding(f"repos.{repo}: reachable; the bot {bot!r} may write commit statuses")
    return Finding(
        f"repos.{repo}: the bot {bot!r} can read {repo} but not write to it, and commit statuses "
        "need write access; give the bot write access to the repo (a collaborator with Write, "
        "or a team with it)",
        EXIT_CANNOT_WRITE_STATUSES,
    )


def _membership_finding(repo: str, owner: str, bot: str, visible: bool | None) -> Finding:
    if visible is None:
        return Finding(f"repos.{repo}: {owner} is a user, not an organisation: its owner and the "
                       "allowlist may start runs")
    if visible:
        return Finding(f"repos.{repo}: the bot {bot!r} can see who is a member of {owner}")
    return Finding(
        f"repos.{repo}: the bot {bot!r} is not a member of {owner}, so the forge hides private "
        f"memberships from it and every member who keeps theirs private is refused; make the "
        f"bot a member of {owner}",
        EXIT_MEMBERSHIP_HIDDEN,
    )


def _pull_refs_finding(repo: str, forge: ForgeClient) -> Finding:
    owner, name = repo.split("/", 1)
    newest = forge.newest_pull_number(owner, name)
    if newest is None:
        return Finding(f"repos.{repo}: no pull request yet; refs/pull/<n>/head is checked once "
                       "there is one")
    ref = f"refs/pull/{newest}/head"
    if ref in forge.pull_refs(owner, name):
        return Finding(f"repos.{repo}: the forge publishes {ref} (PR #{newest}), which runs fetch")
    return Finding(
        f"repos.{repo}: the forge does not publish {ref} for PR #{newest}, and runs fetch a PR's "
        "head from there; use a Gitea/Forgejo repo (not a mirror that lacks PR refs)",
        EXIT_REPO_NO_PULL_REFS,
    )


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


@dataclass(frozen=True)
class Walk:
    """How the kernel reaches a path: the directories it searches on the way (symlinks followed,
    the ones inside a link's target too), the symlinks it reads, and where it ends."""

    searched: tuple[Path, ...]
    links: tuple[tuple[Path, str], ...]  # (symlink, what it points to)
    end: Path


def kernel_walk(path: Path, max_links: int = 40) -> Walk:
    """`path` resolved one component at a time, as the kernel does; read as the bridge's user."""
    pending = list(path.absolute().parts[1:])
    here, searched = Path("/"), [Path("/")]
    links: list[tuple[Path, str]] = []
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            here = here.parent
            continue
        if here not in searched:
            searched.append(here)
        step = here / part
        # os.path.islink, never Path.is_symlink: inside a directory the bridge's user may not
        # search, 3.11's pathlib raises PermissionError, the very case this walk is to explain.
        target = _link_target(step) if len(links) < max_links else None
        if target is not None:
            links.append((step, target))
            if os.path.isabs(target):
                here = Path("/")
            pending[:0] = [p for p in Path(target).parts if p != "/"]
            continue
        here = step
    return Walk(tuple(searched), tuple(links), here)


def _link_target(path: Path) -> str | None:
    """What `path` points to when it is a symlink the bridge's user can read, else None (the
    walk then goes on as if it were not one; the run user's own check finds what it cannot reach)."""
    if not os.path.islink(path):
        return None
    try:
        return os.readlink(path)
    except OSError:
        return None


def first_refused(user: RunUser | None, walk: Walk, final_test: str) -> Path | None:
    """The first directory on the way that `user` cannot search, else the end itself if it
    fails `final_test` (`-x`, `-r`…), else None. One child process as that user."""
    script = ('for d in "$@"; do shift; [ "$d" = -- ] && break; test -x "$d" || { printf %s "$d"; exit 1; }; done; '
              f'test {final_test} "$1" || {{ printf %s "$1"; exit 1; }}')
    result = subprocess.run(
        ["/bin/sh", "-c", script, "sh", *map(str, walk.searched), "--", str(walk.end)],
        env={"PATH": SAFE_PATH}, cwd="/", stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=30, user=user.uid if user else None, group=user.gid if user else None,
        extra_groups=list(user.groups) if user else None,
    )
    return Path(result.stdout) if result.returncode != 0 and result.stdout else None


def describe(path: Path) -> str:
    """`drwx------ root:root`: why a user may not pass."""
    try:
        info = path.stat()
    except OSError as err:
        return err.strerror or "cannot be read"
    owner = _name(pwd.getpwuid, info.st_uid)
    group = _name(grp.getgrgid, info.st_gid)
    return f"{stat.filemode(info.st_mode)} {owner}:{group}"


def _name(lookup: Any, ident: int) -> str:
    try:
        return str(lookup(ident)[0])
    except KeyError:
        return str(ident)


def blocked_line(field: str, who: str, verb: str, path: Path, walk: Walk, refused: Path | None) -> str:
    """One line naming the real path the user cannot pass, and through which links it is reached."""
    via = ""
    if walk.links:
        chain = ", ".join(f"{link} -> {target}" for link, target in walk.links)
        via = f" (it resolves to {walk.end}: {chain})"
    if refused is None:  # every step passes on its own: not a permission of the path
        return (f"{field}: {who} cannot {verb} {path}{via}, though every directory on the way is "
                "searchable; check the file system's mount options (noexec) and the file itself")
    if refused == walk.end:
        return (f"{field}: {who} cannot {verb} {path}{via}: {refused} is {describe(refused)}; "
                "make it readable and executable by that user")
    return (f"{field}: {who} cannot {verb} {path}{via}: the directory {refused} is "
            f"{describe(refused)} and that user cannot search it; make it searchable by that "
            "user (e.g. chmod o+x), or move what it holds out of it (a venv whose Python lives "
            "under a 0700 home: rebuild the venv from a Python outside it)")


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
            walk = kernel_walk(command)
            refused = first_refused(user, walk, "-x")
            yield Finding(blocked_line("executor.command", who, "execute", command, walk, refused),
                          EXIT_RUN_USER_CANNOT_EXECUTE)
    if cfg.workdir.is_dir():
        if as_user(user, 'test -r "$1" && test -x "$1"', str(cfg.workdir)):
            yield Finding(f"executor.workdir: {who} can read {cfg.workdir}")
        else:
            walk = kernel_walk(cfg.workdir)
            refused = first_refused(user, walk, '-r "$1" && test -x')
            yield Finding(blocked_line("executor.workdir", who, "read", cfg.workdir, walk, refused),
                          EXIT_RUN_USER_CANNOT_READ_CHECKOUT)
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
    token, bot = check_forge(forge, cfg.forge.url)
    findings = [token]
    if bot is not None:  # a rejected token or an unreachable forge answers nothing else either
        findings.extend(check_repos(forge, cfg, bot))
    findings.append(check_state_dir(cfg.state_dir))
    if isinstance(cfg.executor, LocalExecutorConfig):
        findings.extend(check_local_executor(cfg.executor))
    else:
        assert drone is not None, "a drone executor is checked through its client"
        findings.extend(check_drone(drone, cfg.executor))
    return findings


def exit_code(findings: list[Finding]) -> int:
    """The first failure's code; 0 when every check passed."""
    return next((finding.exit_code for finding in findings if not finding.ok), 0)
