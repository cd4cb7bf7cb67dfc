"""Thin shell around the git CLI. Every failure raises ExecError with git's own message."""

from __future__ import annotations

from pathlib import Path

from runner.errors import ExecError
from runner.plumbing.proc import ExecResult, run_host
from runner.plumbing.scrub import scrubber

# Fixed identity so commits the harness makes (fixtures) are reproducible and never use the
# operator's global config.
_IDENTITY = {
    "GIT_AUTHOR_NAME": "cc-ci fixtures",
    "GIT_AUTHOR_EMAIL": "fixtures@cc-ci.invalid",
    "GIT_COMMITTER_NAME": "cc-ci fixtures",
    "GIT_COMMITTER_EMAIL": "fixtures@cc-ci.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_TERMINAL_PROMPT": "0",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/nonexistent",
}


REASON_LIMIT = 600  # characters of git's reason kept in an error (a PR comment quotes it)


def git(repo: Path | None, *args: str, env: dict[str, str] | None = None, strip: bool = True) -> str:
    """git's output, stripped unless `strip` is False (a symlink's target is its exact bytes)."""
    cmd = ["git", *(["-C", str(repo)] if repo else []), *args]
    result = run_host(cmd, env={**_IDENTITY, **(env or {})}, check=False)
    if result.failed:
        message = f"`git {' '.join(args)}` exited {result.exit_code}: {reason(result)}"
        raise ExecError(scrubber.scrub(message), result)
    return result.stdout.strip() if strip else result.stdout


def reason(result: ExecResult) -> str:
    """Git's own reason for a failure: its `fatal:` and `error:` lines, in order. The last line
    alone is often advice ("Please make sure you have the correct access rights / and the
    repository exists.") that hides the cause ("detected dubious ownership in repository")."""
    lines = [line.strip() for line in (result.stderr.strip() or result.stdout.strip()).splitlines()]
    causes = [line.split(":", 1)[1].strip() for line in lines
              if line.startswith(("fatal:", "error:")) and line.split(":", 1)[1].strip()]
    text = "; ".join(causes) or next((line for line in reversed(lines) if line), "no output")
    return text if len(text) <= REASON_LIMIT else text[:REASON_LIMIT] + "…"


CONVENTIONAL_DEFAULTS = ("main", "master")  # a repo without an origin has no other say


def current_branch(repo: Path) -> str | None:
    """The branch checked out in `repo`; None when HEAD is detached."""
    try:
        return git(repo, "symbolic-ref", "-q", "--short", "HEAD") or None
    except ExecError:
        return None


def default_branch(repo: Path) -> str | None:
    """The repo's default branch as its origin names it (`origin/HEAD`); None when it has none."""
    try:
        return git(repo, "symbolic-ref", "-q", "--short", "refs/remotes/origin/HEAD").removeprefix("origin/") or None
    except ExecError:
        return None


def branch_tested(current: str | None, default: str | None, commit: str) -> str | None:
    """What a run of a local repo's HEAD tested, as its pages show it: None for the default branch
    (its origin's, else main or master), the branch's name for another, the commit when detached."""
    if current is None:
        return commit[:12]
    return None if current == default or (default is None and current in CONVENTIONAL_DEFAULTS) else current


def tags(repo: Path) -> list[str]:
    out = git(repo, "tag", "--list")
    return [line for line in out.splitlines() if line]


def rev_parse(repo: Path, ref: str) -> str:
    return git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")


def tags_at(repo: Path, commit: str) -> list[str]:
    out = git(repo, "tag", "--points-at", commit)
    return [line for line in out.splitlines() if line]


def release_tags_before(repo: Path, commit: str) -> list[str]:
    """Tags on ancestors of `commit`, not on `commit` itself: the releases a head came after."""
    merged = set(git(repo, "tag", "--merged", commit).splitlines())
    return sorted(merged - set(tags_at(repo, commit)) - {""})


def show_file(repo: Path, commit: str, path: str) -> str | None:
    """A file's text at `commit`, or None when it does not exist there."""
    try:
        return git(repo, "show", f"{commit}:{path}")
    except ExecError:
        return None
