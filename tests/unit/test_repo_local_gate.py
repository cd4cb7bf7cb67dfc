"""The gate, with a fake driver: what the run's tier tests folder holds, what is loaded and run,
for a recipe repo carrying a cc-ci/ folder that is denied, approved by name, by tree id, or by a
stale tree id."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.errors import BadInput
from runner.recipe import git
from runner.run.rundir import RunDir
from runner.tiers.tier import run_tier
from tests.unit.fake_driver import FakeDriver
from tests.unit.test_orchestrator import Tiers, _run


def _canary(dest: Path, kind: str) -> str:
    return f"open({str(dest / kind)!r}, 'w').write('ran')\n"


def _repo_with_cc_ci(make_recipe: Callable[..., Path], canaries: Path) -> tuple[Path, str]:
    """my-recipe whose head carries a cc-ci/ folder; each file leaves a canary when loaded or run."""
    repo = make_recipe(tags=["1.0.0+1.0"], head_label="1.1.0+1.1")
    folder = repo / "cc-ci"
    (folder / "custom").mkdir(parents=True)
    (folder / "recipe_meta.py").write_text(_canary(canaries, "recipe_meta") + "HEALTH_PATH = '/up'\n")
    (folder / "ops.py").write_text(_canary(canaries, "ops") + "def pre_install(ctx):\n    return 'seeded'\n")
    (folder / "conftest.py").write_text(_canary(canaries, "conftest"))
    (folder / "test_install.py").write_text(_canary(canaries, "test") + "def test_x():\n    pass\n")
    (folder / "custom" / "test_feature.py").write_text("def test_y():\n    pass\n")
    (folder / "install_steps.sh").write_text(f"echo ran > {canaries / 'install_steps'}\n")
    git.git(repo, "add", "-A")
    git.git(repo, "commit", "-q", "-m", "cc-ci: the maintainers' own tests")
    return repo, git.git(repo, "rev-parse", "HEAD:cc-ci")


@pytest.fixture
def canaries(tmp_path: Path) -> Path:
    path = tmp_path / "canaries"
    path.mkdir()
    return path


def _allow(tmp_path: Path, text: str) -> str:
    path = tmp_path / "approved.txt"
    path.write_text(text)
    return str(path)


def test_denied_nothing_of_cc_ci_is_loaded_or_run_and_the_run_says_what_it_ignored(
    tmp_path: Path, overlays: Path, make_recipe: Callable[..., Path], canaries: Path
) -> None:
    repo, tree = _repo_with_cc_ci(make_recipe, canaries)
    driver, tiers = FakeDriver(), Tiers()
    result, run = _run(tmp_path, overlays, driver, tiers, RECIPE=str(repo), STAGES="install,custom",
                       CCCI_APPROVED_FILE=_allow(tmp_path, "# nothing approved\n"))
    assert sorted(p.name for p in canaries.iterdir()) == []
    assert "reload_env" not in driver.calls  # install_steps.sh did not run
    assert tiers.files["install"] == ["_generic/test_install.py"]
    custom = next(t for t in result.tiers if t.op == "custom")
    assert custom.error == "the recipe has no custom tests (tests/my-recipe/custom/test_*.py)"
    assert result.meta["HEALTH_PATH"] == "/"
    tests_dir = run.run_dir.tests
    assert not any(p.is_file() for p in (tests_dir / "my-recipe").rglob("*"))  # nothing extracted
    data = json.loads(run.run_dir.results.read_text())["repo_local"]
    assert data["approved"] is False and data["tree"] == tree
    assert data["ignored"] == ["cc-ci/conftest.py", "cc-ci/custom/test_feature.py", "cc-ci/install_steps.sh",
                               "cc-ci/ops.py", "cc-ci/recipe_meta.py", "cc-ci/test_install.py"]
    assert data["to_approve"] == f"my-recipe@{tree}"
    summary = run.run_dir.summary.read_text()
    assert "repo-local `cc-ci/` not approved" in summary and f"`my-recipe@{tree}`" in summary
    assert "`cc-ci/install_steps.sh`" in summary
    assert result.exit_code == 0


@pytest.mark.parametrize("approve", ["by name", "by tree id"])
def test_approved_the_repo_local_files_take_the_place_of_cc_cis_own(
    tmp_path: Path, overlays: Path, make_recipe: Callable[..., Path], canaries: Path, approve: str
) -> None:
    repo, tree = _repo_with_cc_ci(make_recipe, canaries)
    (overlays / "my-recipe").mkdir()
    (overlays / "my-recipe" / "test_install.py").write_text("# cc-ci's own, replaced\n")
    (overlays / "my-recipe" / "test_upgrade.py").write_text("# cc-ci's own, kept\n")
    entry = "my-recipe" if approve == "by name" else f"my-recipe@{tree}"
    driver, tiers = FakeDriver(), Tiers()
    result, run = _run(tmp_path, overlays, driver, tiers, RECIPE=str(repo), STAGES="install,upgrade,custom",
                       CCCI_APPROVED_FILE=_allow(tmp_path, f"{entry}\n"))
    # loaded in-process (meta, hooks) and run (install_steps.sh); pytest is faked here, so the
    # conftest and test canaries are the e2e test's to check
    assert sorted(p.name for p in canaries.iterdir()) == ["install_steps", "ops", "recipe_meta"]
    assert driver.calls.index("reload_env") < driver.calls.index(next(c for c in driver.calls if c.startswith("deploy")))
    assert tiers.files == {"install": ["_generic/test_install.py", "my-recipe/test_install.py"],
                           "upgrade": ["_generic/test_upgrade.py", "my-recipe/test_upgrade.py"],
                           "custom": ["custom/test_feature.py"]}
    own = run.run_dir.tests / "my-recipe"
    assert "def test_x" in (own / "test_install.py").read_text()  # the repo's, in place of cc-ci's own
    assert (own / "test_upgrade.py").read_text() == "# cc-ci's own, kept\n"
    assert (own / "conftest.py").is_file()
    assert result.meta["HEALTH_PATH"] == "/up"
    assert result.repo_local is not None and result.repo_local.approval == approve
    assert "approved " + approve in run.run_dir.summary.read_text()
    assert result.exit_code == 0


def test_a_stale_tree_id_approves_nothing_and_names_the_tree_to_approve(
    tmp_path: Path, overlays: Path, make_recipe: Callable[..., Path], canaries: Path
) -> None:
    repo, tree = _repo_with_cc_ci(make_recipe, canaries)
    stale = git.git(repo, "rev-parse", "HEAD~1^{tree}")  # some other tree: the content reviewed before
    driver, tiers = FakeDriver(), Tiers()
    result, run = _run(tmp_path, overlays, driver, tiers, RECIPE=str(repo), STAGES="install,custom",
                       CCCI_APPROVED_FILE=_allow(tmp_path, f"my-recipe@{stale}\n"))
    assert list(canaries.iterdir()) == []
    assert tiers.files["install"] == ["_generic/test_install.py"]
    assert result.repo_local is not None and not result.repo_local.approved
    message = result.repo_local.message() or ""
    assert f"approved for my-recipe: tree {stale[:8]}, not this one" in message
    assert f"adds `my-recipe@{tree}`" in message


def test_an_unapproved_meta_typo_cannot_stop_a_run_but_an_approved_one_is_bad_input(
    tmp_path: Path, overlays: Path, make_recipe: Callable[..., Path]
) -> None:
    repo = make_recipe(tags=["1.0.0+1.0"], head_label="1.1.0+1.1")
    (repo / "cc-ci").mkdir()
    (repo / "cc-ci" / "recipe_meta.py").write_text("DEPLOY_TIMOUT = 600\n")
    git.git(repo, "add", "-A")
    git.git(repo, "commit", "-q", "-m", "meta")
    denied, _ = _run(tmp_path / "a", overlays, FakeDriver(), RECIPE=str(repo),
                     CCCI_APPROVED_FILE=_allow(tmp_path, "# none\n"))
    assert denied.exit_code == 0
    driver = FakeDriver()
    with pytest.raises(BadInput, match=r"^cc-ci/recipe_meta.py:1: unknown setting 'DEPLOY_TIMOUT' \(did you mean DEPLOY_TIMEOUT\?\)$"):
        _run(tmp_path / "b", overlays, driver, RECIPE=str(repo), CCCI_APPROVED_FILE=_allow(tmp_path, "my-recipe\n"))
    assert driver.calls == [] and list((tmp_path / "b" / "runs").iterdir()) == []


def test_a_malformed_allowlist_is_bad_input_before_anything_is_deployed(
    tmp_path: Path, overlays: Path, make_recipe: Callable[..., Path]
) -> None:
    repo = make_recipe(tags=["1.0.0+1.0"], head_label="1.1.0+1.1")
    driver = FakeDriver()
    allowlist = _allow(tmp_path, "# ok\nmy-recipe@not-a-tree\n")
    with pytest.raises(BadInput, match=rf"^{allowlist}:2: 'my-recipe@not-a-tree' is not"):
        _run(tmp_path, overlays, driver, RECIPE=str(repo), CCCI_APPROVED_FILE=allowlist)
    assert driver.calls == [] and list((tmp_path / "runs").iterdir()) == []


def test_the_tier_process_gets_a_minimal_environment_never_the_callers_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "tests"
    root.mkdir()
    (root / "pytest.ini").write_text("[pytest]\n")
    dump = tmp_path / "env.json"
    test = root / "test_env.py"
    test.write_text(f"import json, os\ndef test_dump():\n    json.dump(dict(os.environ), open({str(dump)!r}, 'w'))\n")
    monkeypatch.setenv("GITEA_TOKEN", "s3cret-token")
    monkeypatch.setenv("CCCI_BRIDGE_SECRET", "another")
    monkeypatch.setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
    run_dir = RunDir(tmp_path)
    run_dir.logs.mkdir()
    tier = run_tier("install", [test], run_dir, {"CCCI_OP": "install"})
    assert tier.verdict == "pass", run_dir.tier_log("install").read_text()
    env = json.loads(dump.read_text())
    assert "GITEA_TOKEN" not in env and "CCCI_BRIDGE_SECRET" not in env
    assert env["DOCKER_HOST"] == "unix:///var/run/docker.sock" and env["CCCI_OP"] == "install"
    assert env["PATH"] == os.environ["PATH"]
    assert set(env) - {"PYTEST_CURRENT_TEST", "PYTEST_VERSION"} <= {
        "PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "DOCKER_HOST", "DOCKER_CONTEXT",
        "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "CCCI_OP", "PYTEST_DISABLE_PLUGIN_AUTOLOAD"}
    assert sys.executable  # the same interpreter runs the tier


@pytest.mark.usefixtures("forked_pytest")  # which conftests load, not the process start
def test_a_conftest_above_the_tier_tests_folder_is_never_loaded(tmp_path: Path) -> None:
    """E.g. runs kept inside a checkout of a recipe repo whose cc-ci/ was denied."""
    canary = tmp_path / "canary"
    (tmp_path / "conftest.py").write_text(f"open({str(canary)!r}, 'w').write('ran')\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -p no:nothing-such\n")
    run_dir = RunDir(tmp_path / "runs" / "r1")
    root = run_dir.tests
    root.mkdir(parents=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    run_dir.logs.mkdir()
    (root / "test_ok.py").write_text("def test_ok():\n    pass\n")
    tier = run_tier("install", [root / "test_ok.py"], run_dir, {})
    assert tier.verdict == "pass", run_dir.tier_log("install").read_text()
    assert not canary.exists()


def test_runs_kept_inside_the_overlay_dir_are_not_copied_into_the_tier_tests_folder(
    tmp_path: Path, overlays: Path
) -> None:
    """CCCI_OVERLAY_DIR and CCCI_RUNS_DIR in one scratch dir: the copy must not recurse into itself."""
    (tmp_path / "test_install.py").write_text("")
    driver, tiers = FakeDriver(), Tiers()
    result, run = _run(tmp_path, overlays, driver, tiers, CCCI_OVERLAY_DIR=str(tmp_path))
    assert tiers.files["install"] == ["_generic/test_install.py", "custom-html-tiny/test_install.py"]
    assert not (run.run_dir.tests / "custom-html-tiny" / "runs").exists()
    assert result.exit_code == 0


def test_a_tier_run_in_the_warm_spare_never_saw_the_callers_tokens_either(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spare starts before the tier is known; its start-up environment is /proc/self/environ."""
    from runner.tiers import warm_pytest

    root = tmp_path / "tests"
    root.mkdir()
    (root / "pytest.ini").write_text("[pytest]\n")
    dump = tmp_path / "environ"
    (root / "test_proc.py").write_text(
        f"def test_dump():\n    open({str(dump)!r}, 'wb').write(open('/proc/self/environ', 'rb').read())\n")
    monkeypatch.setenv("GITEA_TOKEN", "s3cret-token")
    monkeypatch.setattr(warm_pytest, "_spare", None)
    warm_pytest.warm_up()
    run_dir = RunDir(tmp_path)
    run_dir.logs.mkdir()
    tier = run_tier("install", [root / "test_proc.py"], run_dir, {"CCCI_OP": "install"})
    assert tier.verdict == "pass", run_dir.tier_log("install").read_text()
    assert b"s3cret-token" not in dump.read_bytes() and b"GITEA_TOKEN" not in dump.read_bytes()
