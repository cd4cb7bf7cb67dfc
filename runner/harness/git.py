"""Thin shell around the git CLI. Every failure raises ExecError with git's own message."""

from __future__ import annotations

from pathlib import Path

from runner.errors import ExecError
from runner.harness.proc import run_host

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


def git(repo: Path | None, *args: str, env: dict[str, str] | None = None, strip: bool = True) -> str:
    """git's output, stripped unless `strip` is False (a symlink's target is its exact bytes)."""
    cmd = ["git", *(["-C", str(repo)] if repo else []), *args]
    out = run_host(cmd, env={**_IDENTITY, **(env or {})}, what=f"`git {' '.join(args)}`").stdout
    return out.strip() if strip else out


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
