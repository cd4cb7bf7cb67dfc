"""A backupbot hook label's command, run the way backup-bot-two runs it. Pure.

backup-bot-two (as far as we know: docs/hooks.md says where that comes from) takes the label's
value, removes a leading `bash -c` or `sh -c` (and one space after it) and one pair of matching
quotes around the rest, and hands docker the string `bash -c 'set -o pipefail;<command>'`.
Docker's Python SDK splits a string command with shlex before it execs it, so the argv that
runs is `shlex.split` of that string. A command whose own single quotes end the wrapping ones
splits into more than three words; bash then runs only the third and takes the rest as its
`$0`, `$1`: part of the hook silently does not run. cc-ci refuses such a command.
"""

from __future__ import annotations

import shlex

from runner.plumbing.proc import ExecResult

PIPEFAIL = "set -o pipefail;"
# what a missing `bash` looks like: the runtime (no sh in the image, or the bare exec), busybox
# sh (`sh: bash: not found`) and dash (`sh: 1: bash: not found`)
_NO_BASH = ('"bash": executable file not found', "bash: not found")


class UnrunnableHook(ValueError):
    """backup-bot-two could not run the command as written; the message says what it would do."""


def backupbot_command(label_value: str) -> str:
    """The command string backup-bot-two hands to docker for a hook label's value."""
    command = label_value.removeprefix("bash -c").removeprefix("sh -c").removeprefix(" ")
    if len(command) >= 2 and command[0] == command[-1] and command[0] in "'\"":
        command = command[1:-1]
    return f"bash -c '{PIPEFAIL}{command}'"


def hook_argv(label_value: str) -> list[str]:
    """The argv that runs in the container for a hook label: `["bash", "-c", "set -o pipefail;…"]`.

    Raises UnrunnableHook where backup-bot-two would not run what the label says: quotes that do
    not balance once wrapped (docker's SDK fails to split it), or a command split into more
    words than `bash -c <script>` (bash would run only part of it).
    """
    wrapped = backupbot_command(label_value)
    try:
        argv = shlex.split(wrapped)
    except ValueError as err:
        raise UnrunnableHook(f"backup-bot-two cannot run `{_shown(label_value)}`: wrapped as {_shown(wrapped)} its quotes "
                             f"do not balance ({err}); docker's SDK refuses to split it") from None
    if len(argv) != 3:
        raise UnrunnableHook(
            f"backup-bot-two would not run `{_shown(label_value)}` as written: wrapped as {_shown(wrapped)}, its "
            f"single quotes end the wrapping ones, so bash runs only `{_shown(argv[2].removeprefix(PIPEFAIL))}` "
            f"and ignores {_shown(shlex.join(argv[3:]))}. {_advice(label_value)}")
    return argv


def _shown(text: str) -> str:
    """On one line: an error is one line, and a label may hold line breaks."""
    return text.replace("\n", "\\n")


def _advice(label_value: str) -> str:
    if label_value != label_value.strip():
        # backup-bot-two strips neither: `sh -c '…'` then keeps its quotes (a YAML `>` block ends in a newline)
        return "Remove the spaces or line breaks around the label's value"
    return "Use double quotes inside the hook command"


def lacks_bash(result: ExecResult) -> bool:
    """The hook could not start because the container has no `bash`."""
    return result.exit_code in (126, 127) and any(m in result.output for m in _NO_BASH)
