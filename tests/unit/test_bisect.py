"""`cc-ci bisect`: the first bad commit, found in at most ⌈log2(n)⌉+1 runs, over a real git repo and
a fake RunOne that decides each commit's level."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner import cli
from runner.catalogue.bisect import bisect, first_parent_commits, max_runs, stages_to_reach
from runner.catalogue.model import CatalogueRecipe, RunOutcome
from runner.commands import bisect as command
from runner.errors import BadInput
from runner.recipe import git

MOST = 17  # commits on top of the good one in the shared repo


def _commit(repo: Path, message: str) -> str:
    (repo / "compose.yml").write_text(f"# {message}\n")
    git.git(repo, "add", "-A")
    git.git(repo, "commit", "-q", "-m", message)
    return git.git(repo, "rev-parse", "HEAD")


def _repo(path: Path, count: int) -> tuple[Path, list[str]]:
    """A recipe repo: the good commit, then `count` more; returns [good, c1, …, c_count]."""
    path.mkdir()
    git.git(path, "init", "-q", "-b", "main")
    return path, [_commit(path, f"change {i}") for i in range(count + 1)]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    return _repo(tmp_path_factory.mktemp("bisect") / "my-recipe", MOST)


class Fake:
    """Commits from `first_bad` on stop at L`low`; the others reach L`high`. Records each run."""

    def __init__(self, commits: list[str], first_bad: int, high: int = 1, low: int = 0,
                 unmade: Callable[[str, int], bool] = lambda commit, tries: False) -> None:
        self.commits, self.first_bad, self.high, self.low, self.unmade = commits, first_bad, high, low, unmade
        self.calls: list[tuple[str, str]] = []

    def __call__(self, recipe: CatalogueRecipe, commit: str, stages: str) -> RunOutcome:
        self.calls.append((commit, stages))
        run_id = f"run-{len(self.calls)}"
        if self.unmade(commit, sum(c == commit for c, _ in self.calls)):
            return RunOutcome(0, "error", run_id, Path("/nonexistent"), exit_code=3, error="docker is down")
        level = self.low if self.commits.index(commit) >= self.first_bad else self.high
        return RunOutcome(level, "pass" if level == self.high else "error", run_id, Path("/nonexistent"),
                          exit_code=0 if level == self.high else 3, commit=commit)


def _recipe(repo: Path) -> CatalogueRecipe:
    return CatalogueRecipe(name=repo.name, repo=str(repo))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_first_bad_commit_is_named_wherever_it_is_in_at_most_log2_n_plus_one_runs(
        shared: tuple[Path, list[str]], data: st.DataObject) -> None:
    repo, commits = shared
    n = data.draw(st.integers(1, MOST), label="n")
    first_bad = data.draw(st.integers(1, n), label="first bad")
    fake = Fake(commits, first_bad)
    said: list[str] = []
    result = bisect(_recipe(repo), commits[0], commits[n], "install", fake, said.append)
    assert result.first_bad == commits[first_bad]
    assert result.subject == f"change {first_bad}"
    assert len(fake.calls) == len(result.runs) <= max_runs(n)
    assert fake.calls[0] == (commits[n], "install")  # the bad one first: it tells the lost rung
    assert all(commits.index(c) in range(1, n + 1) for c, _ in fake.calls)  # never the good one, nothing past bad
    assert sum(line.startswith("step ") for line in said) == len(fake.calls)


def test_max_runs_is_log2_n_plus_one() -> None:
    assert [max_runs(n) for n in (1, 2, 3, 4, 5, 8, 9, 16, 17)] == [1, 2, 3, 3, 4, 4, 5, 5, 6]


def test_progress_says_each_step_its_commit_level_and_judgement(shared: tuple[Path, list[str]]) -> None:
    repo, commits = shared
    said: list[str] = []
    bisect(_recipe(repo), commits[0], commits[4], "install", Fake(commits, 2), said.append)
    steps = [line for line in said if line.startswith("step ")]
    assert steps[0].startswith(f"step 1/3: {commits[4][:12]} install … L0 (error, run run-1)")
    assert steps[1].startswith(f"step 2/3: {commits[2][:12]} install … L0 bad")
    assert steps[2].startswith(f"step 3/3: {commits[1][:12]} install … L1 good")


def test_a_bad_commit_that_is_not_bad_ends_with_no_first_bad_after_one_run(shared: tuple[Path, list[str]]) -> None:
    repo, commits = shared
    fake = Fake(commits, first_bad=len(commits))  # nothing is bad
    result = bisect(_recipe(repo), commits[0], commits[5], "install", fake, lambda line: None)
    assert result.first_bad is None and not result.stopped
    assert len(fake.calls) == 1
    assert "is not bad at these stages; nothing to bisect" in result.why


def test_when_the_commit_did_not_move_it_says_so_and_runs_nothing(shared: tuple[Path, list[str]]) -> None:
    repo, commits = shared
    fake = Fake(commits, 1)
    result = bisect(_recipe(repo), commits[3], commits[3], "install", fake, lambda line: None)
    assert result.first_bad is None and fake.calls == [] and result.runs == []
    assert result.why.startswith(f"the commit did not move (good and bad are both {commits[3][:12]}): "
                                 "an image or the host changed")


def test_good_must_be_an_ancestor_of_bad(tmp_path: Path) -> None:
    repo, commits = _repo(tmp_path / "my-recipe", 2)
    git.git(repo, "checkout", "-q", "-b", "side", commits[0])
    side = _commit(repo, "elsewhere")
    fake = Fake([*commits, side], 9)
    with pytest.raises(BadInput, match=r"^--good '.{40}' is not an ancestor of --bad '.{40}' in my-recipe"):
        bisect(_recipe(repo), side, commits[2], "install", fake, lambda line: None)
    with pytest.raises(BadInput, match=r"^--good 'nope' is not a commit of my-recipe's repo; give a sha, branch or tag of it$"):
        bisect(_recipe(repo), "nope", commits[2], "install", fake, lambda line: None)
    with pytest.raises(BadInput, match=r"^--bad 'main~9' is not a commit of my-recipe's repo"):
        bisect(_recipe(repo), commits[0], "main~9", "install", fake, lambda line: None)
    assert fake.calls == []


def test_only_the_first_parent_line_is_searched(tmp_path: Path) -> None:
    repo, commits = _repo(tmp_path / "my-recipe", 1)
    git.git(repo, "checkout", "-q", "-b", "feature")
    feature = [_commit(repo, f"feature {i}") for i in range(3)]
    git.git(repo, "checkout", "-q", "main")
    git.git(repo, "merge", "-q", "--no-ff", "-m", "merge feature", "feature")
    merge = git.git(repo, "rev-parse", "HEAD")
    assert first_parent_commits(repo, commits[0], merge) == [commits[1], merge]
    fake = Fake([*commits, *feature, merge], first_bad=len(commits) + 1)  # feature 1 broke it, merged in
    result = bisect(_recipe(repo), commits[0], merge, "install", fake, lambda line: None)
    assert result.first_bad == merge and result.subject == "merge feature"
    assert {c for c, _ in fake.calls} <= {commits[1], merge}


def test_only_the_stages_that_reach_the_lost_rung_run_after_the_first(shared: tuple[Path, list[str]]) -> None:
    repo, commits = shared
    fake = Fake(commits, first_bad=3, high=4, low=2)  # L4 before, L2 after: L3 backup+restore lost
    result = bisect(_recipe(repo), commits[0], commits[6], "install,upgrade,backup,restore,custom,lint", fake,
                    lambda line: None)
    assert result.first_bad == commits[3]
    assert fake.calls[0][1] == "lint,install,upgrade,backup,restore,custom"
    assert {stages for _, stages in fake.calls[1:]} == {"install,upgrade,backup,restore"}
    assert result.why.startswith("the first commit that does not reach L3 backup+restore; its parent ")


def test_stages_to_reach_a_rung_come_from_the_lifecycle() -> None:
    every = "lint,install,idempotent,upgrade,backup,restore,custom,restore-fresh"
    assert stages_to_reach(1, every) == "install"
    assert stages_to_reach(2, every) == "install,upgrade"
    assert stages_to_reach(3, every) == "install,upgrade,backup,restore"
    assert stages_to_reach(4, "install,restore,custom") == "install,backup,restore,custom"  # restore needs backup
    assert stages_to_reach(5, "install,lint") == "lint,install"


def test_a_run_that_could_not_be_made_is_retried_once_then_counts_like_any(shared: tuple[Path, list[str]]) -> None:
    repo, commits = shared
    fake = Fake(commits, 2, unmade=lambda commit, tries: commit == commits[2] and tries == 1)
    said: list[str] = []
    result = bisect(_recipe(repo), commits[0], commits[4], "install", fake, said.append)
    assert result.first_bad == commits[2] and not result.stopped
    assert [c for c, _ in fake.calls].count(commits[2]) == 2
    assert any(line.startswith(f"step 2/3: {commits[2][:12]} install … could not be made (exit 3: docker is down)")
               for line in said)
    assert any(line.startswith(f"step 2/3 (retry): {commits[2][:12]} install … L0 bad") for line in said)


def test_a_run_that_could_not_be_made_twice_stops_the_bisect_and_is_not_called_bad(
        shared: tuple[Path, list[str]]) -> None:
    repo, commits = shared
    fake = Fake(commits, 1, unmade=lambda commit, tries: commit == commits[2])
    result = bisect(_recipe(repo), commits[0], commits[4], "install", fake, lambda line: None)
    assert result.stopped and result.first_bad is None
    assert result.why.startswith(f"the run of {commits[2][:12]} could not be made twice (exit 3: docker is down); "
                                 "that says nothing about the commit, so the bisect stopped there")
    assert len(result.runs) == 3  # the bad one, then the unmade one twice


def _main(monkeypatch: pytest.MonkeyPatch, fake: Fake, *argv: str) -> int:
    monkeypatch.setattr(command, "run_on", lambda target, runs_dir: fake)
    return cli.main(["bisect", *argv])


def test_the_command_exits_0_1_2_3_and_prints_the_first_bad_commit(
        monkeypatch: pytest.MonkeyPatch, shared: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    repo, commits = shared
    assert _main(monkeypatch, Fake(commits, 3), str(repo), "--good", commits[0], "--bad", commits[4]) == 0
    out = capsys.readouterr().out
    assert f"step 1/3: {commits[4][:12]} install … L0" in out
    assert f"first bad commit: {commits[3]} change 3\n" in out
    assert _main(monkeypatch, Fake(commits, 99), str(repo), "--good", commits[0], "--bad", commits[4]) == 1
    assert "no first bad commit: " in capsys.readouterr().out
    assert _main(monkeypatch, Fake(commits, 1), str(repo), "--good", commits[2], "--bad", commits[2]) == 1
    assert "no first bad commit: the commit did not move" in capsys.readouterr().out
    assert _main(monkeypatch, Fake(commits, 1, unmade=lambda c, t: True), str(repo),
                 "--good", commits[0], "--bad", commits[4]) == 3
    assert "bisect stopped: the run of " in capsys.readouterr().out
    assert _main(monkeypatch, Fake(commits, 1), str(repo), "--good", commits[4], "--bad", commits[0]) == 2
    assert "cc-ci: error: --good '" in capsys.readouterr().err
    assert _main(monkeypatch, Fake(commits, 1), str(repo), "--good", commits[0], "--bad", commits[4],
                 "--stages", "instal") == 2
    assert "cc-ci: error: --stages: unknown stage 'instal'; choose from " in capsys.readouterr().err


def test_the_command_takes_a_path_or_a_recipe_name(tmp_path: Path) -> None:
    assert command._recipe(str(tmp_path)) == CatalogueRecipe(name=tmp_path.name, repo=str(tmp_path))
    assert command._recipe("custom-html-tiny") == CatalogueRecipe(name="custom-html-tiny")
    with pytest.raises(BadInput, match="^RECIPE: 'No Such' is not a recipe name"):
        command._recipe("No Such")
    with pytest.raises(BadInput, match="is not a directory"):
        command._recipe(str(tmp_path / "missing"))
    assert isinstance(cli.build_parser().parse_args(["bisect", "x", "--good", "a", "--bad", "b"]), argparse.Namespace)
