"""Thin shell around the git CLI. Every failure raises with git's own message."""

from __future__ import annotations

import subprocess
from pathlib import Path

from runner.errors import InfraError

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


def git(repo: Path | None, *args: str, env: dict[str, str] | None = None) -> str:
    cmd = ["git", *(["-C", str(repo)] if repo else []), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**_IDENTITY, **(env or {})})
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise InfraError(f"`git {' '.join(args)}` failed: {detail[-1] if detail else done.returncode}")
    return done.stdout.strip()


def tags(repo: Path) -> list[str]:
    out = git(repo, "tag", "--list")
    return [line for line in out.splitlines() if line]


def rev_parse(repo: Path, ref: str) -> str:
    return git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")


def tags_at(repo: Path, commit: str) -> list[str]:
    out = git(repo, "tag", "--points-at", commit)
    return [line for line in out.splitlines() if line]
