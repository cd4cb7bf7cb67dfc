"""Bounded input (issue 21, point 4): every recipe file the harness reads goes through one bounded
reader and one YAML loader. An alias bomb, an oversized `.env.sample` or `abra.sh`, an env that
expands past its bound: one line naming the file, exit 2 (or a lint error), within seconds and a
few MB, nothing deployed and nothing left behind."""

from __future__ import annotations

import functools
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from runner import cli, run_recipe_ci
from runner.errors import EXIT_BAD_INPUT, BadInput
from runner.lint import lint_recipe
from runner.orchestrator import Run
from runner.recipe import bounded, git
from runner.recipe.envfile import parse_env
from tests.unit.fake_driver import FakeDriver
from tests.unit.hostile import alias_bomb, oversized_env
from tests.unit.test_orchestrator import _run

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURE = REPO_ROOT / "tests" / "fixtures" / "recipes" / "custom-html-tiny" / "base"
MEMORY_LIMIT = 1_000_000 * 1024  # bytes: the issue's `ulimit -v 1000000`
LOADERS = [pytest.param(yaml.SafeLoader, id="python"),
           *([pytest.param(yaml.CSafeLoader, id="libyaml")] if hasattr(yaml, "CSafeLoader") else [])]


def _recipe(path: Path, **files: str) -> Path:
    """The bundled example's files with `files` replacing some (`env_sample` is `.env.sample`),
    committed in a new repo."""
    import shutil
    shutil.copytree(FIXTURE, path)
    for name, text in files.items():
        (path / (".env.sample" if name == "env_sample" else name.replace("_", "."))).write_text(text)
    git.git(path, "init", "-q", "-b", "main")
    git.git(path, "add", "-A")
    git.git(path, "commit", "-q", "-m", "hostile")
    return path


def _cc_ci(*argv: str, timeout: float = 20) -> tuple[subprocess.CompletedProcess[str], float]:
    """`cc-ci <argv>` in a subprocess of this checkout, under the issue's memory limit, timed; a run
    that would eat the host is killed by the limit or the timeout instead (a red, not a hang)."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "runner.cli", *argv], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=timeout, preexec_fn=limit)
    return done, time.monotonic() - started


# -- the loader ------------------------------------------------------------------------------

@pytest.mark.parametrize("loader", LOADERS)
def test_the_loader_refuses_an_alias_bomb_before_expanding_it(monkeypatch: pytest.MonkeyPatch, loader: type) -> None:
    monkeypatch.setattr(bounded, "_Loader", loader)
    started = time.monotonic()
    with pytest.raises(bounded.OverLimit, match=r"^compose\.yml: its aliases expand it past 100,000 YAML nodes; "):
        bounded.load_yaml(alias_bomb(), "compose.yml")
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize("loader", LOADERS)
def test_the_loader_keeps_ordinary_aliases_and_merge_keys(monkeypatch: pytest.MonkeyPatch, loader: type) -> None:
    monkeypatch.setattr(bounded, "_Loader", loader)
    text = ("x-env: &env {A: '1', B: '2'}\nservices:\n  app: {environment: *env}\n"
            "  worker:\n    <<: {image: 'w:1'}\n    environment: *env\n")
    assert bounded.load_yaml(text, "compose.yml") == {
        "x-env": {"A": "1", "B": "2"},
        "services": {"app": {"environment": {"A": "1", "B": "2"}}, "worker": {"image": "w:1", "environment": {"A": "1", "B": "2"}}}}


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize(("text", "phrase"), [
    ("a: &a [*a]\n", "an alias refers to a node that contains it"),
    ("[" * 70 + "]" * 70, "nests deeper than 64 levels"),
    ("x: &x " + "[" * 40 + "]" * 40 + "\ny: " + "[" * 30 + "*x" + "]" * 30 + "\n", "nests deeper than 64 levels"),
    ("[" * 5000 + "]" * 5000, ""),  # the Python composer recurses; libyaml stops at 1000 itself
])
def test_the_loader_refuses_recursion_and_deep_nesting(monkeypatch: pytest.MonkeyPatch, loader: type,
                                                        text: str, phrase: str) -> None:
    monkeypatch.setattr(bounded, "_Loader", loader)
    with pytest.raises(bounded.RecipeFileError, match=f"^compose.yml: .*{phrase}"):
        bounded.load_yaml(text, "compose.yml")


@pytest.mark.parametrize(("text", "phrase"), [
    ("a: 2020-13-45\n", "does not load: month must be in 1..12; fix the value"),
    ("a: !!int 1" + "0" * 5000 + "\n", "does not load: Exceeds the limit"),
    ("a: 1\n---\nb: 2\n", "does not parse: line 2"),
    ("? [1]\n: 2\n", "does not parse: line 1: found unhashable key"),
    ("a: *nowhere\n", "does not parse: line 1: found undefined alias"),
    ("a: [unclosed\n", "does not parse: line 2"),
])
def test_what_a_safe_loader_cannot_construct_is_the_loaders_own_error(text: str, phrase: str) -> None:
    with pytest.raises(bounded.NotYaml) as refused:
        bounded.load_yaml(text, "compose.yml")
    assert str(refused.value).startswith("compose.yml: ") and phrase in str(refused.value)
    assert isinstance(refused.value, BadInput) and refused.value.exit_code == EXIT_BAD_INPUT


def test_a_document_past_the_size_limit_is_refused_unread() -> None:
    text = "a: " + "x" * bounded.YAML_MAX_BYTES + "\n"
    with pytest.raises(bounded.OverLimit, match=r"^compose\.yml: 256 KiB is past cc-ci's limit of 256 KiB for it; "):
        bounded.load_yaml(text, "compose.yml")


def test_the_git_reader_refuses_by_size_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _recipe(tmp_path / "r", abra_sh="export A=1\n" + "#" * (bounded.ABRA_SH_MAX_BYTES + 1) + "\n")
    shown: list[str] = []
    monkeypatch.setattr(git, "show_file", lambda *args: shown.append(args[2]))  # type: ignore[func-returns-value]
    with pytest.raises(bounded.OverLimit, match=r"^HEAD:abra\.sh: 64 KiB is past cc-ci's limit of 64 KiB"):
        bounded.show_file(repo, "HEAD", "abra.sh")
    assert shown == []  # git was asked its size only
    assert bounded.show_file(repo, "HEAD", "no-such-file") is None


def test_an_env_that_expands_past_its_bound_is_refused_at_its_line_quickly() -> None:
    doubling = "A0=" + "x" * 64 + "\n" + "".join(f"A{i + 1}=$A{i}$A{i}\n" for i in range(40))
    one_line = "A=" + "x" * 60_000 + "\nB=" + "$A" * 30_000 + "\n"  # 1.8 GB if expanded whole
    for text, line in ((doubling, 11), (one_line, 2)):
        started = time.monotonic()
        with pytest.raises(bounded.OverLimit, match=rf"^\.env\.sample:{line}: the values up to here come to more than 64 KiB"):
            parse_env(text, source=".env.sample")
        assert time.monotonic() - started < 0.5


# -- the commands ----------------------------------------------------------------------------

def test_cc_ci_lint_on_an_alias_bomb_is_one_error_line_within_10s_under_1gb(tmp_path: Path) -> None:
    repo = _recipe(tmp_path / "bomb", compose_yml=alias_bomb())
    done, took = _cc_ci("lint", str(repo), timeout=30)
    errors = [line for line in done.stdout.splitlines() if " error " in line]
    assert done.returncode == 1, done.stderr[-500:]
    assert took < 10 and done.stderr == "", done.stderr[-500:]
    assert len(errors) == 1 and errors[0].startswith("CCCI-L12") and "compose.yml: its aliases expand it past" in errors[0]


@pytest.mark.parametrize("command", ["render", "check"])
@pytest.mark.parametrize("hostile", ["alias bomb", "50 MB .env.sample"])
def test_render_and_check_refuse_hostile_input_with_one_line_and_exit_2(tmp_path: Path, command: str,
                                                                         hostile: str) -> None:
    files = {"compose_yml": alias_bomb()} if hostile == "alias bomb" else {"env_sample": oversized_env(50)}
    repo = _recipe(tmp_path / "hostile", **files)
    done, took = _cc_ci(command, str(repo), timeout=30)
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-500:]
    assert took < 10 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    named = "compose.yml: its aliases expand" if hostile == "alias bomb" else ".env.sample: 51,200 KiB is past"
    assert done.stderr.startswith("cc-ci: error: ") and named in done.stderr


@pytest.mark.parametrize(("files", "named"), [
    ({"compose_yml": alias_bomb()}, "compose.yml: its aliases expand it past"),
    ({"env_sample": oversized_env(1)}, ".env.sample: 1,024 KiB is past"),
    ({"abra_sh": "export A=1\n" + "#" * 70_000 + "\n"}, "abra.sh: 68 KiB is past"),
    ({"compose_admin_yml": "x: " + "y" * 300_000 + "\n"}, "compose.admin.yml: 293 KiB is past"),
])
def test_a_run_refuses_hostile_input_with_exit_2_before_anything_is_deployed(tmp_path: Path, overlays: Path,
                                                                            files: dict[str, str], named: str) -> None:
    sample = (FIXTURE / ".env.sample").read_text()
    if "env_sample" not in files:  # the example's chain, so that compose.admin.yml is read
        files = {**files, "env_sample": sample + 'COMPOSE_FILE="compose.yml:compose.admin.yml"\n'}
    repo = _recipe(tmp_path / "hostile", **files)
    driver = FakeDriver()
    with pytest.raises(BadInput, match=named) as refused:
        _run(tmp_path, overlays, driver, RECIPE=str(repo), STAGES="install")
    assert refused.value.exit_code == EXIT_BAD_INPUT and "\n" not in str(refused.value)
    assert driver.calls == [] and list((tmp_path / "runs").iterdir()) == []


def test_a_run_with_upgrade_refuses_a_bomb_at_the_head_too(tmp_path: Path, overlays: Path) -> None:
    repo = _recipe(tmp_path / "hostile")
    git.git(repo, "tag", "-a", "1.0.0+1.0", "-m", "release")
    (repo / "compose.yml").write_text(alias_bomb())
    git.git(repo, "commit", "-q", "-am", "the PR head: a bomb")
    driver = FakeDriver()
    with pytest.raises(BadInput, match="compose.yml: its aliases expand it past"):
        _run(tmp_path, overlays, driver, RECIPE=str(repo), STAGES="install,upgrade")
    assert driver.calls == [] and list((tmp_path / "runs").iterdir()) == []


def test_cc_ci_run_exits_2_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """`cc-ci run` end to end but for the driver (a fake: were the refusal missing, this test
    must not deploy to the swarm): one line, exit 2, the driver never called."""
    repo = _recipe(tmp_path / "hostile", env_sample=oversized_env(1))
    driver = FakeDriver()
    monkeypatch.setattr(run_recipe_ci, "Run", functools.partial(Run, driver_factory=lambda config, say: driver))
    monkeypatch.setenv("CCCI_RUNS_DIR", str(tmp_path / "runs"))
    assert cli.main(["run", str(repo), "--stages", "install"]) == EXIT_BAD_INPUT
    assert driver.calls == []
    err = capsys.readouterr().err.splitlines()
    assert [line for line in err if "error" in line] == [err[-1]] and "Traceback" not in "".join(err)
    assert err[-1].startswith("cc-ci: error: ") and ".env.sample: 1,024 KiB is past" in err[-1]
    assert not any((tmp_path / "runs").glob("*/recipe"))


def test_no_reader_of_recipe_files_loads_yaml_but_the_bounded_loader() -> None:
    """A new `yaml.safe_load` of a recipe file would bring the alias bomb back: the only other
    YAML loads read cc-ci's own files (a bundled fixture's history, the example images) and the
    operator's bridge config."""
    loads = {str(path.relative_to(REPO_ROOT)) for path in (REPO_ROOT / "runner").rglob("*.py")
             if any(call in path.read_text() for call in ("yaml.safe_load(", "yaml.load(", "yaml.full_load(",
                                                           "yaml.unsafe_load(", "yaml.compose("))}
    assert loads == {"runner/recipe/repos.py", "runner/drivers/swarm/substrate.py", "runner/bridge/config.py"}


def test_a_file_that_is_not_utf8_is_one_line_not_a_decode_traceback(tmp_path: Path, overlays: Path) -> None:
    repo = _recipe(tmp_path / "latin1")
    (repo / "compose.yml").write_bytes((FIXTURE / "compose.yml").read_bytes() + b"# caf\xe9\n")
    git.git(repo, "commit", "-q", "-am", "a latin-1 comment")
    with pytest.raises(bounded.NotText, match=r"compose\.yml: is not UTF-8 text \(byte \d+ is b'\\xe9'\); save it as UTF-8$"):
        bounded.show_file(repo, "HEAD", "compose.yml")
    findings = [f for f in lint_recipe(repo, None, {}) if f.rule == "CCCI-L12"]
    assert len(findings) == 1 and "compose.yml: is not UTF-8 text" in findings[0].message
    driver = FakeDriver()
    with pytest.raises(bounded.NotText):
        _run(tmp_path, overlays, driver, RECIPE=str(repo), STAGES="install")
    assert driver.calls == [] and list((tmp_path / "runs").iterdir()) == []


def test_a_file_at_a_commit_is_read_from_git_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The check, the planning and the app's creation read .env.sample at the same commit: one git
    read (issue 25), the same text every time; a ref that may move is asked of git again."""
    repo = tmp_path / "recipe"
    repo.mkdir()
    for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "empty"]):
        git.git(repo, *args)
    (repo / ".env.sample").write_text("TYPE=x\n")
    git.git(repo, "add", ".env.sample")
    git.git(repo, "commit", "-q", "-m", "sample")
    commit = git.rev_parse(repo, "HEAD")
    calls: list[tuple[str, ...]] = []
    real = git.git
    monkeypatch.setattr(git, "git", lambda repo, *args, **kw: calls.append(args) or real(repo, *args, **kw))
    assert [bounded.show_file(repo, commit, ".env.sample") for _ in range(3)] == ["TYPE=x"] * 3
    assert len(calls) == 2  # its entry in the tree, then its text
    assert bounded.show_file(repo, commit, "abra.sh") is None and len(calls) == 3
    assert [bounded.show_file(repo, "HEAD", ".env.sample") for _ in range(2)] == ["TYPE=x"] * 2
    assert len(calls) == 7
