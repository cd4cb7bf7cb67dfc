"""`cc-ci check` and the check every run makes before deploying: a maintainer's mistake is told
at their own file and line (never the run dir's copy), with exit 2 and nothing deployed."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from runner import cli
from runner.errors import BadInput
from runner.maintainer.repolocal import RepoLocal, build_tier_tests
from runner.ops import LIFECYCLE
from runner.orchestrator import Run
from runner.plumbing.paths import FIXTURES_DIR, TESTS_DIR
from runner.recipe.repos import bundled_recipe_repo
from runner.run.config import RunConfig
from runner.run.rundir import RunDir
from runner.tiers.tier import run_tier
from tests.unit.fake_driver import FakeDriver

pytestmark = pytest.mark.usefixtures("forked_pytest")  # the check's messages, not the start of its pytest

MISTAKES = FIXTURES_DIR / "mistakes"
SHOWN = "tests/fixtures/mistakes"


def _check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    code = cli.main(["check", *args])
    return code, capsys.readouterr().out.splitlines()


def test_every_mistake_of_the_fixture_is_listed_at_its_file_and_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _check(capsys, "custom-html-repolocal", "--overlay-dir", str(MISTAKES))
    problems = [line for line in out if line.startswith("problem: ")]
    expected = [
        f"{SHOWN}/conftest.py:5: SyntaxError: expected ':'",
        f"{SHOWN}/ops.py:5: pre_restor is not a hook (did you mean pre_restore?)",
        f"{SHOWN}/ops.py:9: SyntaxError: expected ':'",
        f"{SHOWN}/recipe_meta.py:2: unknown setting 'DEPLOY_TIMOUT' (did you mean DEPLOY_TIMEOUT?)",
        f"{SHOWN}/test_backup.py:5: Failed: In {SHOWN}/test_backup.py::test_backed_up: function uses no argument 'path'",
        f"{SHOWN}/test_install.py:5: SyntaxError: invalid syntax",
        f"{SHOWN}/test_upgrade.py:1: ModuleNotFoundError: No module named 'no_such_module'",
        f"{SHOWN}/custm/: no tier collects it and nothing reads it (did you mean custom/?)",
        f"{SHOWN}/test_instal.py: no tier collects it and nothing reads it (did you mean test_install.py?)",
        f"custom tier: none of your overlays for it will run ({SHOWN}/custm/, cc-ci/custom/test_greeting.py ignored); "
        "it checks nothing",
        f"{SHOWN}/test_restore.py: holds no tests (pytest collects functions named test_*)",
    ]
    for line in expected:
        assert f"problem: {line}" in problems, f"{line!r} not in:\n" + "\n".join(out)
    gate = next(line for line in problems if "repo-local cc-ci/" in line)
    assert "is not approved" in gate and "adds `custom-html-repolocal@" in gate
    assert len(problems) == len(expected) + 1
    # a syntax error shows the line as written and a caret under where the parser stopped
    at = out.index(f"problem: {SHOWN}/test_install.py:5: SyntaxError: invalid syntax")
    assert out[at + 1:at + 3] == ["    def test_broken(:", "                    ^"]
    assert "/runs/" not in "\n".join(out) and "ccci-check-" not in "\n".join(out)  # never the run's copies
    assert out[-1].startswith("12 problem(s): a run would refuse it before deploying (exit 2, ")
    assert code == 2


@pytest.mark.parametrize("recipe", ["custom-html-tiny", "notes-tiny", "custom-html-repolocal", "sso-tiny", "notes-sso"])
def test_the_bundled_recipes_check_clean(capsys: pytest.CaptureFixture[str], tmp_path: Path, recipe: str) -> None:
    approved = tmp_path / "approved.txt"  # the repo-local example is approved as its e2e test approves it
    approved.write_text("custom-html-repolocal\n")
    code, out = _check(capsys, recipe, "--approved-file", str(approved))
    assert not [line for line in out if line.startswith("problem: ")], "\n".join(out)
    assert out[-1].startswith("ok: nothing to fix") and code == 0
    assert out[1].startswith("  lint     tests/_generic/test_lint.py (1 test)")
    assert "tests/_generic/test_install.py (" in out[2]


def test_the_example_lists_its_tiers_hooks_and_gate(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _check(capsys, "custom-html-tiny")
    assert out[0].startswith("cc-ci check custom-html-tiny at ") and out[0].endswith(": tests/custom-html-tiny")
    assert out[2].startswith("  install  tests/_generic/test_install.py (6 tests), tests/custom-html-tiny/test_install.py (")
    assert "post_install" in next(line for line in out if line.startswith("  hooks"))
    assert "  gate     repo-local cc-ci/: none at the tested commit" in out
    assert code == 0


def test_an_unapproved_repo_local_folder_is_a_problem_naming_the_line_that_approves_it(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _check(capsys, "custom-html-repolocal")
    assert "  gate     not approved: see below" in out
    assert any(line.startswith("problem: repo-local cc-ci/ (tree ") and "adds `custom-html-repolocal@" in line for line in out)
    assert code == 1  # a run would go on, without it


def test_bad_arguments_are_exit_2_with_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["check", "custom-html-tiny", "--approved-file", str(tmp_path / "nope.txt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "CCCI_APPROVED_FILE" in err[0] and "does not exist" in err[0]


# -- every run checks first -------------------------------------------------------------------

def _run(tmp_path: Path, overlays: Path, driver: FakeDriver, console: Console | None = None, **env: str) -> Run:
    bundled_recipe_repo("custom-html-tiny")
    config = RunConfig.from_env({"RECIPE": "custom-html-tiny", "CCCI_RUNS_DIR": str(tmp_path / "runs"),
                                 "CCCI_OVERLAY_DIR": str(overlays / "custom-html-tiny"), **env}, LIFECYCLE)
    return Run(config, console=console or Console(file=io.StringIO()), driver_factory=lambda c, say: driver,
               tests_dir=overlays, tier_runner=run_tier)  # the real runner: the check collects with pytest


def _refused(tmp_path: Path, overlays: Path, **env: str) -> tuple[str, str]:
    driver, out = FakeDriver(), io.StringIO()
    with pytest.raises(BadInput) as err:
        _run(tmp_path, overlays, driver, Console(file=out, width=200), **env).execute()
    assert driver.calls == [] and list((tmp_path / "runs").iterdir()) == []  # nothing deployed, nothing left
    assert err.value.exit_code == 2
    return str(err.value), re.sub(r"(?m)^ *\d+\.\ds ", "", out.getvalue())  # without the elapsed time


@pytest.mark.parametrize(("name", "text", "headline", "caret"), [
    ("test_install.py", "def test_ok():\n    pass\n\ndef test_x(:\n    pass\n",
     "test_install.py:4: SyntaxError: invalid syntax", "    def test_x(:\n               ^"),
    ("conftest.py", "import pytest\n\n@pytest.fixture\ndef greeting()\n    return 1\n",
     "conftest.py:4: SyntaxError: expected ':'", "    def greeting()\n                  ^"),
    ("ops.py", "def pre_install(ctx):\n    return [1,\n", "ops.py:2: SyntaxError: '[' was never closed",
     "        return [1,\n               ^"),
])
def test_a_syntax_error_is_exit_2_before_deploying_at_the_maintainers_file_line_and_column(
        tmp_path: Path, overlays: Path, name: str, text: str, headline: str, caret: str) -> None:
    (overlays / "custom-html-tiny" / name).write_text(text)
    message, console = _refused(tmp_path, overlays)
    own = overlays / "custom-html-tiny"  # the maintainer's folder, never the run dir's copy
    assert message == f"{own}/{headline}"
    assert caret in console


@pytest.mark.parametrize(("name", "text", "headline"), [
    ("test_upgrade.py", "import os\nfrom no_such_module import thing\n",
     "test_upgrade.py:2: ModuleNotFoundError: No module named 'no_such_module'"),
    ("conftest.py", "import pytest\nVALUE = 1 / 0\n", "conftest.py:2: ZeroDivisionError: division by zero"),
    ("test_backup.py", "import pytest\n\n@pytest.mark.parametrize('path', ['/srv'])\ndef test_b(volume):\n    pass\n",
     "test_backup.py:4: Failed: In {own}/test_backup.py::test_b: function uses no argument 'path'"),
])
def test_an_import_or_collection_error_is_exit_2_before_deploying_at_the_maintainers_file(
        tmp_path: Path, overlays: Path, name: str, text: str, headline: str) -> None:
    (overlays / "custom-html-tiny" / name).write_text(text)
    message, _ = _refused(tmp_path, overlays)
    own = overlays / "custom-html-tiny"
    assert message == f"{own}/{headline.format(own=own)}"


def test_an_import_error_in_a_helper_names_the_helper_and_the_test_that_imports_it(tmp_path: Path, overlays: Path) -> None:
    own = overlays / "custom-html-tiny"
    (own / "_helpers.py").write_text("import os\n\nBASE = os.environ['NO_SUCH_VARIABLE']\n")
    (own / "test_install.py").write_text("from _helpers import BASE\n\ndef test_x():\n    assert BASE\n")
    message, console = _refused(tmp_path, overlays)
    assert message == f"{own}/_helpers.py:3: KeyError: 'NO_SUCH_VARIABLE'"
    assert f"{own}/test_install.py:1 in <module>: from _helpers import BASE" in console
    assert f"{own}/_helpers.py:3 in <module>: BASE = os.environ['NO_SUCH_VARIABLE']" in console


def test_every_problem_is_listed_before_the_run_refuses(tmp_path: Path, overlays: Path) -> None:
    own = overlays / "custom-html-tiny"
    (own / "test_install.py").write_text("def test_x(:\n    pass\n")
    (own / "ops.py").write_text("def pre_restor(ctx):\n    pass\n")
    message, console = _refused(tmp_path, overlays)
    assert message == f"{own}/ops.py:1: pre_restor is not a hook (did you mean pre_restore?) (and 1 more above)"
    assert f"{own}/test_install.py:1: SyntaxError: invalid syntax" in console


# -- helpers beside the overlays --------------------------------------------------------------

def _tier_tests(tmp_path: Path, own: Path) -> tuple[RunDir, Path]:
    run_dir = RunDir(tmp_path / "run")
    run_dir.logs.mkdir(parents=True)
    tests = build_tier_tests(run_dir.tests, TESTS_DIR, own, "my-recipe",
                             RepoLocal("my-recipe", None), tmp_path, LIFECYCLE.overlay_dirs)
    return run_dir, tests.recipe_dir


def test_a_helper_beside_the_overlays_imports_in_a_real_tier(tmp_path: Path) -> None:
    own = tmp_path / "own"
    (own / "custom").mkdir(parents=True)
    (own / "_notes.py").write_text("GREETING = 'hello'\n\ndef shout(text):\n    return text.upper()\n")
    (own / "test_install.py").write_text("from _notes import GREETING, shout\n\n"
                                         "def test_helper():\n    assert shout(GREETING) == 'HELLO'\n")
    (own / "custom" / "_pages.py").write_text("PAGES = ['/']\n")
    (own / "custom" / "test_pages.py").write_text("from _pages import PAGES\nfrom _notes import GREETING\n\n"
                                                  "def test_pages():\n    assert PAGES == ['/'] and GREETING\n")
    run_dir, recipe_dir = _tier_tests(tmp_path, own)
    for op, files in (("install", [recipe_dir / "test_install.py"]), ("custom", [recipe_dir / "custom" / "test_pages.py"])):
        tier = run_tier(op, files, run_dir, {})
        assert (tier.verdict, tier.counts) == ("pass", {"passed": 1}), run_dir.tier_log(op).read_text()


def test_a_tier_whose_overlays_were_all_ignored_is_said_first(tmp_path: Path, overlays: Path) -> None:
    own = overlays / "custom-html-tiny"
    (own / "custom" / "test_pages.py").rename(own / "custom" / "pages_test.py")
    (own / "custm").mkdir()
    (own / "custm" / "test_more.py").write_text("def test_more():\n    pass\n")
    out = io.StringIO()
    run = _run(tmp_path, overlays, FakeDriver(), Console(file=out, width=300), STAGES="install")
    result = run.execute()
    said = out.getvalue()
    notice = (f"custom tier: none of your overlays for it will run ({own}/custm/, {own}/custom/pages_test.py "
              "ignored); it checks nothing")
    assert f"overlay: {notice}" in said
    assert notice in result.notes["overlay"]
    summary = run.run_dir.summary.read_text()
    assert summary.index(notice) < summary.index("| tier |")  # at the top, before the table
    assert json.loads(run.run_dir.results.read_text())["notes"]["overlay"] == result.notes["overlay"]


def test_a_hook_traceback_is_cut_to_the_maintainers_frames_in_console_log_and_summary(
        tmp_path: Path, overlays: Path) -> None:
    own = overlays / "custom-html-tiny"
    (own / "_seed.py").write_text("def rows(state):\n    return state['upgrade']\n")
    (own / "ops.py").write_text("from _seed import rows\n\n\ndef post_install(ctx):\n    return rows({})\n")
    out = io.StringIO()
    run = _run(tmp_path, overlays, FakeDriver(), Console(file=out, width=300), STAGES="install")
    result = run.execute()
    frames = [f"    {own}/ops.py:5 in post_install: return rows({{}})",
              f"    {own}/_seed.py:2 in rows: return state['upgrade']"]
    headline = f"{own}/_seed.py:2: post_install hook: KeyError: 'upgrade'"
    assert result.error_detail[0] == headline and result.error_detail[-2:] == frames
    assert result.tiers[1].error == f"post_install hook failed: KeyError: 'upgrade' ({own}/_seed.py:2)"
    for text in (out.getvalue(), run.run_dir.run_log.read_text(),
                 run.run_dir.summary.read_text()):
        assert headline in text and all(frame in text for frame in frames)
        assert "runner/" not in "\n".join(line for line in text.splitlines() if " in " in line and ".py:" in line)
    assert result.exit_code == 3


def test_a_tier_that_cannot_collect_a_file_names_it(tmp_path: Path) -> None:
    """Runs check first, so this is the late case (a file that imports on one try and not on the
    next): the tier is `error` (exit 3), and its line names the file and the exception."""
    own = tmp_path / "own"
    own.mkdir()
    (own / "test_install.py").write_text("from nothing_such import x\n\ndef test_x():\n    assert x\n")
    run_dir, recipe_dir = _tier_tests(tmp_path, own)
    tier = run_tier("install", [recipe_dir / "test_install.py"], run_dir, {})
    assert tier.verdict == "error"
    assert tier.error == ("pytest exited 2: could not collect my-recipe/test_install.py: "
                          "ModuleNotFoundError: No module named 'nothing_such'")


# -- pyflakes (issue 24, point 6): what a test body would raise once deployed, told now ------------------

def test_an_undefined_name_in_a_test_body_is_exit_2_before_deploying_at_the_maintainers_line(
        tmp_path: Path, overlays: Path) -> None:
    """The issue's NameError in an overlay test's body: compiling and collecting pass (the body
    runs only after the install), so `cc-ci check` said ok and the run failed the install at L0."""
    own = overlays / "custom-html-tiny"
    (own / "test_install.py").write_text("def test_greeting():\n    assert greting == 'hello'\n")
    message, console = _refused(tmp_path, overlays)
    assert message == (f"{own}/test_install.py:2: undefined name 'greting' (pyflakes): it raises NameError when "
                       "this line runs; define or import it, or fix the spelling")
    assert "        assert greting == 'hello'\n               ^" in console


def test_an_unused_import_is_a_warning_and_check_still_passes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    own = tmp_path / "own"
    own.mkdir()
    (own / "test_install.py").write_text("import os\n\n\ndef test_x() -> None:\n    assert True\n")
    code, out = _check(capsys, "custom-html-tiny", "--overlay-dir", str(own))
    assert f"warning: {own}/test_install.py:1: 'os' imported but unused (pyflakes)" in out
    assert out[-1].startswith("ok: nothing to fix; 1 warning(s) above (") and code == 0


def test_a_name_error_in_a_repo_local_test_is_told_at_cc_ci_path(capsys: pytest.CaptureFixture[str],
                                                                  tmp_path: Path) -> None:
    """An approved repo-local folder's file is named `cc-ci/…`, never the run dir's copy."""
    from runner.recipe import git
    repo = tmp_path / "custom-html-repolocal"
    git.git(None, "clone", "-q", str(bundled_recipe_repo("custom-html-repolocal")), str(repo))
    test = repo / "cc-ci" / "test_upgrade.py"
    test.write_text(test.read_text().replace('f"hello from {app.domain}"', 'f"hello from {app.domian}" + greeting'))
    git.git(repo, "commit", "-q", "-am", "a typo")
    approved = tmp_path / "approved.txt"
    approved.write_text("custom-html-repolocal\n")
    code, out = _check(capsys, str(repo), "--approved-file", str(approved))
    line = next(n for n, text in enumerate(test.read_text().splitlines(), 1) if "+ greeting" in text)
    assert (f"problem: cc-ci/test_upgrade.py:{line}: undefined name 'greeting' (pyflakes): it raises NameError when "
            "this line runs; define or import it, or fix the spelling") in out
    assert not any(str(tmp_path / "runs") in text or "/tests/custom-html-repolocal/" in text for text in out)
    assert code == 2


def test_a_failure_in_a_test_body_is_told_at_the_maintainers_path_in_log_junit_and_console(
        tmp_path: Path, overlays: Path) -> None:
    """What pyflakes cannot see (an attribute error in a test body) fails the tier once deployed:
    its log, JUnit report and the console name the maintainer's file, not the run dir's copy."""
    own = overlays / "custom-html-tiny"
    (own / "test_install.py").write_text("def test_greeting():\n    page = {}\n    assert page.text == 'hi'\n")
    out = io.StringIO()
    run = _run(tmp_path, overlays, FakeDriver(), Console(file=out, width=300), STAGES="install")
    run.execute()
    log = run.run_dir.tier_log("install").read_text()
    junit = run.run_dir.junit("install").read_text()
    for text in (log, junit, out.getvalue()):
        assert f"{own}/test_install.py:3: AttributeError" in text
        assert "custom-html-tiny/test_install.py:3" not in text.replace(f"{own}/test_install.py:3", "")
    assert f"FAILED {own}/test_install.py::test_greeting - AttributeError" in log


def test_name_paths_names_only_files_of_the_tier_tests_folder(tmp_path: Path) -> None:
    from runner.maintainer.problems import name_paths
    root = tmp_path / "tests"
    (root / "my-recipe").mkdir(parents=True)
    (root / "my-recipe" / "test_install.py").write_text("")
    shown = {(root / "my-recipe" / "test_install.py").resolve(): "cc-ci/test_install.py"}
    text = ("my-recipe/test_install.py:3: AttributeError\nFAILED my-recipe/test_install.py::test_x - boom\n"
            f"could not collect my-recipe/test_install.py: ModuleNotFoundError\n{root}/my-recipe/test_install.py:3\n"
            "/usr/lib/python3/x.py:1: in f\nmy-recipe/test_gone.py:1: nothing there\nsee notmy-recipe/test_install.py:1")
    assert name_paths(text, root, lambda p: shown.get(p.resolve())).splitlines() == [
        "cc-ci/test_install.py:3: AttributeError", "FAILED cc-ci/test_install.py::test_x - boom",
        "could not collect cc-ci/test_install.py: ModuleNotFoundError", "cc-ci/test_install.py:3",
        "/usr/lib/python3/x.py:1: in f", "my-recipe/test_gone.py:1: nothing there", "see notmy-recipe/test_install.py:1"]


def test_each_tier_lists_the_files_it_really_runs_restore_fresh_the_restore_overlay_too(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _check(capsys, "custom-html-tiny")
    (fresh,) = [line for line in out if line.startswith("  restore-fresh ")]
    assert fresh == ("  restore-fresh tests/_generic/test_restore.py (5 tests), tests/_generic/test_restore_fresh.py "
                     "(4 tests), tests/custom-html-tiny/test_restore.py (2 tests)")
    assert code == 0


def test_the_heading_names_the_folders_the_files_came_from(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    approved = tmp_path / "approved.txt"
    approved.write_text("custom-html-repolocal\n")
    _, out = _check(capsys, "custom-html-repolocal", "--approved-file", str(approved))
    assert out[0].endswith(": tests/custom-html-repolocal + cc-ci/ (the recipe repo's, approved)")
    _, out = _check(capsys, "custom-html-repolocal")  # not approved: its cc-ci/ files run nowhere
    assert out[0].endswith(": tests/custom-html-repolocal")
