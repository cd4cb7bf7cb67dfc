"""A backupbot hook label's command becomes the argv backup-bot-two runs: `bash -c 'set -o
pipefail;<cmd>'` after a leading `sh -c`/`bash -c` and surrounding quotes are removed, split by
docker's SDK (shlex). What production would not run as written is refused, with what it would do."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from runner.plumbing.proc import ExecResult
from runner.recipe.hookcmd import UnrunnableHook, backupbot_command, hook_argv, lacks_bash


@pytest.mark.parametrize(("label", "script"), [
    ("sh -c 'a | b > c'", "a | b > c"),
    ('bash -c "x $(cat /run/secrets/y)"', "x $(cat /run/secrets/y)"),
    ("rm -f x", "rm -f x"),
    ("mysqldump -u root -p\"$(cat /run/secrets/db_root_password)\" db > /var/lib/mysql/dump.sql",
     'mysqldump -u root -p"$(cat /run/secrets/db_root_password)" db > /var/lib/mysql/dump.sql'),
    ("  rm -f x  ", " rm -f x  "),  # spaces around a plain command: harmless (one leading space goes)
    ("sh -c  rm -f x", " rm -f x"),  # only one space after `sh -c` goes
    ("echo 'x' > f", "echo x > f"),  # quotes inside that fall in place: docker's split drops them, as in production
    ("sh -c ''", ""),
])
def test_a_hook_label_becomes_bash_with_pipefail_running_the_command(label: str, script: str) -> None:
    assert hook_argv(label) == ["bash", "-c", f"set -o pipefail;{script}"]


def test_the_string_backup_bot_two_hands_docker_wraps_the_command_in_single_quotes() -> None:
    assert backupbot_command("sh -c 'pg_dump db | gzip > /d.gz'") == "bash -c 'set -o pipefail;pg_dump db | gzip > /d.gz'"


@pytest.mark.parametrize(("label", "runs_only", "advice"), [
    ("sh -c \"echo 'a b' > /srv/dump\"", "echo a", "double quotes"),
    (" sh -c 'a | b > c'", "sh -c a", "spaces or line breaks"),  # a leading space keeps `sh -c '…'` whole
    ("sh -c 'ls > /srv/dump'\n", "ls", "spaces or line breaks"),  # a YAML `>` block ends in a newline
])
def test_a_command_production_would_run_only_part_of_is_refused_saying_which_part(
    label: str, runs_only: str, advice: str
) -> None:
    with pytest.raises(UnrunnableHook, match=f"bash runs only `{runs_only}` and ignores .*{advice}"):
        hook_argv(label)
    with pytest.raises(UnrunnableHook) as refused:
        hook_argv(label)
    assert "\n" not in str(refused.value)


def test_a_command_whose_quotes_do_not_balance_once_wrapped_is_refused() -> None:
    with pytest.raises(UnrunnableHook, match="quotes do not balance"):
        hook_argv("echo it's done > /srv/log")


def test_the_translated_hook_runs_shell_syntax_under_bash(tmp_path: Path) -> None:
    """A redirect, a pipe, `$(cat <secret>)` and pipefail, run by a real bash."""
    (tmp_path / "db_password").write_text("s3cret")
    label = (f"sh -c 'echo \"dump of db as $(cat {tmp_path}/db_password)\" | tr a-z A-Z > {tmp_path}/dump.sql'")
    done = subprocess.run(hook_argv(label), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "dump.sql").read_text() == "DUMP OF DB AS S3CRET\n"
    failing_pipe = subprocess.run(hook_argv("false | cat"), capture_output=True)
    assert failing_pipe.returncode == 1  # pipefail: a dump command failing inside a pipe fails the hook


@pytest.mark.parametrize(("result", "missing"), [
    (ExecResult(126, 'OCI runtime exec failed: exec failed: unable to start container process: exec: "bash": '
                "executable file not found in $PATH: unknown", ""), True),  # the runtime (no sh either)
    (ExecResult(127, "", "sh: bash: not found\n"), True),  # busybox sh
    (ExecResult(127, "", "sh: 1: bash: not found\n"), True),  # dash
    (ExecResult(127, "", "bash: line 1: mysqldump: command not found\n"), False),  # bash is there; the tool is not
    (ExecResult(1, "", "bash: not found in cache\n"), False),
    (ExecResult(0, "", ""), False),
])
def test_a_container_without_bash_is_told_apart_from_a_hook_that_failed(result: ExecResult, missing: bool) -> None:
    assert lacks_bash(result) is missing
