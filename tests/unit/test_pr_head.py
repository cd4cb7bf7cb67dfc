"""A PR's head is fetched as the forge publishes it (refs/pull/<n>/head of the base repo, then the
head repo's branches) and must be the head the run is bound to."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runner.errors import (
    EXIT_BAD_INPUT,
    EXIT_HEAD_MISMATCH,
    BadInput,
    ExecError,
    HeadMismatch,
    InfraError,
)
from runner.ops import LIFECYCLE
from runner.plumbing.proc import ExecResult
from runner.recipe import git
from runner.recipe.prhead import fetch_pr_head
from runner.run.config import RunConfig


def _commit(repo: Path, name: str) -> str:
    (repo / name).write_text(name)
    git.git(repo, "add", name)
    git.git(repo, "commit", "-qm", name)
    return git.rev_parse(repo, "HEAD")


@pytest.fixture
def forge(tmp_path: Path) -> tuple[Path, Path]:
    """A base repo and a fork of it with one commit the base does not have."""
    base = tmp_path / "base.git"
    git.git(None, "init", "-q", "-b", "main", str(tmp_path / "seed"))
    _commit(tmp_path / "seed", "compose.yml")
    git.git(None, "clone", "-q", "--bare", str(tmp_path / "seed"), str(base))
    fork = tmp_path / "fork"
    git.git(None, "clone", "-q", str(base), str(fork))
    _commit(fork, "feature")
    return base, fork


def _publish(fork: Path, base: Path, pr: int, rev: str = "HEAD") -> None:
    """What the forge does for a PR: its head, wherever it lives, as refs/pull/<pr>/head of the base."""
    git.git(fork, "push", "-q", str(base), f"+{rev}:refs/pull/{pr}/head")


def _clone(base: Path, tmp_path: Path) -> Path:
    checkout = tmp_path / "run" / "recipe"
    git.git(None, "clone", "-q", "--no-local", str(base), str(checkout))  # as over the network:
    return checkout  # only what the base's branches reach, not its whole object store


def test_a_fork_prs_head_is_fetched_from_the_base_repos_pull_ref(forge: tuple[Path, Path], tmp_path: Path) -> None:
    base, fork = forge
    _publish(fork, base, 7)
    head = git.rev_parse(fork, "HEAD")
    checkout = _clone(base, tmp_path)
    with pytest.raises(ExecError):  # a plain clone does not have it
        git.rev_parse(checkout, head)
    said: list[str] = []
    for bound in (None, head, head[:12]):
        assert fetch_pr_head(checkout, 7, bound, None, said.append) == head
    assert git.show_file(checkout, head, "feature") == "feature"  # the commit itself is in the clone
    assert f"PR #7: head {head[:12]} (refs/pull/7/head of the recipe repo)" in said


def test_a_head_other_than_the_bound_one_is_refused_with_its_own_exit_code(
        forge: tuple[Path, Path], tmp_path: Path) -> None:
    base, fork = forge
    _publish(fork, base, 7)
    bound = git.rev_parse(base, "main")  # what the bridge saw; the PR has moved on since
    with pytest.raises(HeadMismatch) as err:
        fetch_pr_head(_clone(base, tmp_path), 7, bound, None, print)
    assert err.value.exit_code == EXIT_HEAD_MISMATCH == 5
    message = str(err.value)
    assert "\n" not in message
    assert f"bound to head {bound}" in message and f"refs/pull/7/head is {git.rev_parse(fork, 'HEAD')[:12]}" in message
    assert "nothing was deployed" in message


def test_a_pr_the_repo_does_not_publish_is_bad_input(forge: tuple[Path, Path], tmp_path: Path) -> None:
    base, _ = forge
    with pytest.raises(BadInput) as err:
        fetch_pr_head(_clone(base, tmp_path), 8, None, None, print)
    assert not isinstance(err.value, HeadMismatch) and err.value.exit_code == EXIT_BAD_INPUT
    assert "has no refs/pull/8/head" in str(err.value)


def test_when_the_pull_ref_lags_the_head_repo_is_where_the_bound_head_is_found(
        forge: tuple[Path, Path], tmp_path: Path) -> None:
    base, fork = forge
    _publish(fork, base, 7)
    newer = _commit(fork, "second")  # pushed to the fork; the forge has not updated refs/pull yet
    checkout = _clone(base, tmp_path)
    assert fetch_pr_head(checkout, 7, newer, str(fork), print) == newer
    with pytest.raises(HeadMismatch):
        fetch_pr_head(_clone(base, tmp_path / "again"), 7, newer, None, print)


def test_a_bound_head_in_no_branch_of_the_head_repo_is_refused_naming_both_places(
        forge: tuple[Path, Path], tmp_path: Path) -> None:
    base, fork = forge
    _publish(fork, base, 7)
    with pytest.raises(HeadMismatch) as err:
        fetch_pr_head(_clone(base, tmp_path), 7, "f" * 40, str(fork), print)
    assert f"no branch of {fork} is at it" in str(err.value)


@pytest.mark.parametrize(("env", "wanted"), [
    ({"PR": "7", "VERSION": "1.0.0+1"}, "not both"),
    ({"PR_HEAD_REPO": "https://forge/x.git", "PR": "7"}, "set PR and REF too"),
    ({"PR_HEAD_REPO": "--upload-pack=evil", "PR": "7", "REF": "abc1234"}, "not a git URL or path"),
])
def test_pr_settings_that_cannot_go_together_are_bad_input(env: dict[str, str], wanted: str) -> None:
    with pytest.raises(BadInput, match=wanted):
        RunConfig.from_env({"RECIPE": "custom-html-tiny", **env}, LIFECYCLE)


def test_a_fork_head_repo_is_read_from_the_environment() -> None:
    config = RunConfig.from_env({"RECIPE": "custom-html-tiny", "PR": "7", "REF": "abc1234",
                                 "PR_HEAD_REPO": "https://forge.example/fork/recipe.git"}, LIFECYCLE)
    assert (config.pr, config.ref, config.pr_head_repo) == (7, "abc1234", "https://forge.example/fork/recipe.git")


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving a repo to another user needs root")


@needs_root
def test_git_says_its_own_reason_not_its_last_line_of_advice(tmp_path: Path) -> None:
    seed = tmp_path / "theirs"
    git.git(None, "init", "-q", "-b", "main", str(seed))
    _commit(seed, "compose.yml")
    os.chown(seed / ".git", 65534, 65534)  # another user's repo: git refuses to serve it

    with pytest.raises(ExecError) as refused:
        git.git(None, "clone", "-q", str(seed), str(tmp_path / "mine"))

    message = str(refused.value)
    assert "detected dubious ownership in repository" in message, message
    assert not message.endswith("and the repository exists.")


def test_gits_reason_is_its_fatal_and_error_lines_else_its_last_line() -> None:
    advice = ("fatal: detected dubious ownership in repository at '/r/.git'\nTo add an exception for "
              "this directory, call:\n\n\tgit config --global --add safe.directory /r/.git\nfatal: Could "
              "not read from remote repository.\n\nPlease make sure you have the correct access rights\n"
              "and the repository exists.\n")
    assert git.reason(ExecResult(128, "", advice)) == (
        "detected dubious ownership in repository at '/r/.git'; Could not read from remote repository.")
    assert git.reason(ExecResult(1, "", "hint: something\nplain last line\n")) == "plain last line"
    assert git.reason(ExecResult(1, "", "")) == "no output"
    long = git.reason(ExecResult(1, "", "fatal: " + "x" * 5000))
    assert long.endswith("…") and len(long) == git.REASON_LIMIT + 1


@needs_root
def test_a_pull_ref_the_forge_refuses_to_serve_names_the_forges_reason(
    forge: tuple[Path, Path], tmp_path: Path
) -> None:
    base, fork = forge
    _publish(fork, base, 7)
    checkout = _clone(base, tmp_path)
    os.chown(base, 65534, 65534)  # the forge's repo can no longer be read: not "no such ref"

    with pytest.raises(InfraError) as refused:
        fetch_pr_head(checkout, 7, None, None, lambda line: None)

    assert not isinstance(refused.value, BadInput)
    assert "PR: refs/pull/7/head could not be fetched from the recipe repo: detected dubious ownership" in str(
        refused.value)


def test_the_bundled_example_publishes_its_head_as_pr_1_so_the_bridge_can_run_it(tmp_path: Path) -> None:
    from runner.recipe.repos import bundled_recipe_repo

    source = bundled_recipe_repo("custom-html-tiny")
    head = git.rev_parse(source, "HEAD")
    checkout = tmp_path / "recipe"
    git.git(None, "clone", "-q", "--no-hardlinks", str(source), str(checkout))  # as a run clones it
    said: list[str] = []

    assert fetch_pr_head(checkout, 1, head, None, said.append) == head  # what the bridge asks
    assert said == [f"PR #1: head {head[:12]} (refs/pull/1/head of the recipe repo)"]
    with pytest.raises(BadInput, match="has no refs/pull/2/head"):  # only PR #1 is published
        fetch_pr_head(checkout, 2, head, None, said.append)
