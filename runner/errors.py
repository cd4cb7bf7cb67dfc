"""The one error family. The CLI catches CcciError once, prints one line, exits with its code."""

from __future__ import annotations

EXIT_PASS = 0
EXIT_ASSERTION_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INFRA = 3
EXIT_EMPTY = 4  # nothing failed, but a tier executed no assertion: not a green
EXIT_HEAD_MISMATCH = 5  # the PR's head is not the commit the run was bound to: nothing deployed


class CcciError(Exception):
    """An error the user can act on. `str(err)` is one line: what failed and what to check."""

    exit_code = EXIT_INFRA


class BadInput(CcciError):
    """Invalid env vars, arguments or files. Nothing has been deployed."""

    exit_code = EXIT_BAD_INPUT


class HeadMismatch(BadInput):
    """The PR's head, fetched from the forge's repos, is not the head the run was bound to (REF)."""

    exit_code = EXIT_HEAD_MISMATCH


class InfraError(CcciError):
    """The substrate (docker, git, the swarm) or an op failed."""

    exit_code = EXIT_INFRA


class ConvergenceError(InfraError):
    """A deployed stack did not converge before its deadline."""


class ExecError(InfraError):
    """A command run in an app container failed; carries its result."""

    def __init__(self, message: str, result: object | None = None) -> None:
        super().__init__(message)
        self.result = result
