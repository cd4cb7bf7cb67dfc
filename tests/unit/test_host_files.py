"""Files outside the recipe (issue 21, "refuse what escapes"): `docker stack deploy` runs on the
harness host and reads each config's and secret's `file:` and each service's `env_file:` from it,
relative to the recipe clone or absolute, and hands the content to the swarm. A compose naming
`/root/.ssh/id_ed25519`, `../../..`, or a committed symlink out of the clone would put a harness-host
file into the app. So would a committed symlink as compose.yml, `.env.sample` or `abra.sh`, read by
the harness itself. Each is refused before anything is deployed: one line naming the compose file,
the entry and the fix, exit 2, the driver never called, no run dir left."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runner.drivers.swarm.driver import SwarmDriver
from runner.errors import EXIT_BAD_INPUT, BadInput
from runner.lint import lint_recipe
from runner.plumbing.proc import ExecResult
from runner.recipe import bounded, git
from runner.recipe.compose import check_host_files, host_files, interpolate
from runner.run.config import DriverSettings
from tests.unit.fake_driver import FakeDriver, FakeTarget
from tests.unit.test_orchestrator import _run

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURE = REPO_ROOT / "tests" / "fixtures" / "recipes" / "custom-html-tiny" / "base"
CONFIG = "    file: httpd.conf\n"  # the example's one config, as its compose.yml names it


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    """A harness-host file outside any clone, as an SSH key would be."""
    path = tmp_path / "harness-host" / "id_ed25519"
    path.parent.mkdir()
    path.write_text("HARNESS HOST SECRET\n")
    return path


def _recipe(path: Path, compose: str | None = None, links: dict[str, str] | None = None, **files: str) -> Path:
    """The bundled example, its compose.yml replaced by `compose`, `files` added (`env_sample` is
    `.env.sample`), `links` committed as symlinks (name -> target), in a new repo."""
    shutil.copytree(FIXTURE, path)
    if compose is not None:
        (path / "compose.yml").write_text(compose)
    for name, text in files.items():
        target = path / (".env.sample" if name == "env_sample" else name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    for name, target in (links or {}).items():
        (path / name).unlink(missing_ok=True)
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, path / name)
    git.git(path, "init", "-q", "-b", "main")
    git.git(path, "add", "-A")
    git.git(path, "commit", "-q", "-m", "hostile")
    return path


def _compose(config_file: str) -> str:
    return (FIXTURE / "compose.yml").read_text().replace(CONFIG, f"    file: {config_file}\n")


def _refused(tmp_path: Path, overlays: Path, repo: Path, phrase: str) -> str:
    """The run's refusal: BadInput (exit 2), one line with `phrase`, nothing deployed, no run dir."""
    driver = FakeDriver()
    with pytest.raises(BadInput) as refused:
        _run(tmp_path, overlays, driver, RECIPE=str(repo), STAGES="install")
    message = str(refused.value)
    assert isinstance(refused.value, bounded.OutsideRecipe) and refused.value.exit_code == EXIT_BAD_INPUT
    assert phrase in message and "\n" not in message, message
    assert driver.calls == [] and list((tmp_path / "runs").iterdir()) == []
    assert "HARNESS HOST SECRET" not in message
    return message


# -- a run refuses, before anything is deployed ----------------------------------------------

def test_a_config_file_at_an_absolute_path_is_refused(tmp_path: Path, overlays: Path, secret_file: Path) -> None:
    repo = _recipe(tmp_path / "r", _compose(str(secret_file)))
    message = _refused(tmp_path, overlays, repo, f"configs.httpd_conf.file: {secret_file} is an absolute path")
    assert message.startswith(f"{git.rev_parse(repo, 'HEAD')[:12]}:compose.yml: ")
    assert message.endswith("; name a file committed inside the recipe, relative to it (e.g. file: nginx.conf)")


@pytest.mark.parametrize("path", ["../../../../../../../../etc/hostname", "missing/../../etc/hostname",
                                  "./release/../../x"])
def test_a_secret_file_with_dotdot_out_of_the_recipe_is_refused(tmp_path: Path, overlays: Path, path: str) -> None:
    """docker cleans the joined path lexically (Go's filepath.Join), so `missing/../..` leaves too."""
    compose = (FIXTURE / "compose.yml").read_text() + f"secrets:\n  stolen:\n    file: {path}\n"
    _refused(tmp_path, overlays, _recipe(tmp_path / "r", compose), f"secrets.stolen.file: {path} leads out of the recipe")


@pytest.mark.parametrize(("links", "config", "phrase"), [
    ({"httpd.conf": "{secret}"}, "httpd.conf", "httpd.conf (a symlink to {secret}) leads out of the recipe"),
    ({"conf/httpd.conf": "../../{rel}"}, "conf/httpd.conf", "conf/httpd.conf (a symlink to ../../{rel}) leads out"),
    ({"conf": "{secret_dir}"}, "conf/id_ed25519", "conf (a symlink to {secret_dir}) leads out of the recipe"),
    ({"a": "b", "b": "c", "c": "{secret}"}, "a", "c (a symlink to {secret}) leads out of the recipe"),
    ({"loop": "loop"}, "loop", "loop is a symlink cc-ci will not follow (a loop?)"),
    ({"conf": ".git"}, "conf/config", "conf (a symlink to .git) is inside git's own folder, not the recipe"),
    ({}, ".git/config", ".git is inside git's own folder"),  # the clone's remote URL, perhaps with a token
])
def test_a_committed_symlink_out_of_the_recipe_is_refused(tmp_path: Path, overlays: Path, secret_file: Path,
                                                          links: dict[str, str], config: str, phrase: str) -> None:
    names = {"secret": str(secret_file), "secret_dir": str(secret_file.parent),
             "rel": os.path.relpath(secret_file, tmp_path)}
    repo = _recipe(tmp_path / "r", _compose(config), {k: v.format(**names) for k, v in links.items()})
    _refused(tmp_path, overlays, repo, f"configs.httpd_conf.file: {phrase.format(**names)}")


@pytest.mark.parametrize("env_file", ["{secret}", "[ok.env, '{secret}']", "[{{path: '{secret}', required: false}}]"])
def test_an_env_file_out_of_the_recipe_is_refused_in_each_form(tmp_path: Path, overlays: Path, secret_file: Path,
                                                               env_file: str) -> None:
    compose = (FIXTURE / "compose.yml").read_text().replace(
        "    environment:\n", f"    env_file: {env_file.format(secret=secret_file)}\n    environment:\n")
    repo = _recipe(tmp_path / "r", compose, **{"ok.env": "A=1\n"})
    _refused(tmp_path, overlays, repo, f"services.app.env_file{'[1]' if 'ok.env' in env_file else '[0]' if '[' in env_file else ''}: "
             f"{secret_file} is an absolute path")


@pytest.mark.parametrize(("setting", "written"), [
    ("CONF_DIR=../../..", "${CONF_DIR}/etc/hostname"),
    ("", "${HOME}/.ssh/id_ed25519"),  # HOME is the harness's own: compose interpolation sees it
    ("", "${UNSET:-/etc}/hostname"),
])
def test_a_path_that_interpolation_takes_out_is_refused(tmp_path: Path, overlays: Path, setting: str,
                                                        written: str) -> None:
    sample = (FIXTURE / ".env.sample").read_text() + setting + "\n"
    repo = _recipe(tmp_path / "r", _compose(written), env_sample=sample)
    message = _refused(tmp_path, overlays, repo, f"configs.httpd_conf.file '{written}': ")
    assert "leads out of the recipe" in message or "is an absolute path" in message


@pytest.mark.parametrize(("name", "phrase"), [
    ("compose.yml", "compose.yml: compose.yml (a symlink to {secret}) leads out of the recipe"),
    (".env.sample", ".env.sample: .env.sample (a symlink to {secret}) leads out of the recipe"),
    ("abra.sh", "abra.sh: abra.sh (a symlink to {secret}) leads out of the recipe"),
])
def test_a_recipe_file_the_harness_reads_that_is_a_symlink_out_is_refused(tmp_path: Path, overlays: Path,
                                                                          secret_file: Path, name: str,
                                                                          phrase: str) -> None:
    repo = _recipe(tmp_path / "r", links={name: str(secret_file)})
    message = _refused(tmp_path, overlays, repo, phrase.format(secret=secret_file))
    assert message.endswith("; commit the file itself inside the recipe, not a symlink out of it")


def test_a_compose_file_of_the_chain_that_is_a_symlink_out_is_refused(tmp_path: Path, overlays: Path,
                                                                      secret_file: Path) -> None:
    relative = os.path.relpath(secret_file, tmp_path / "r")  # ../harness-host/id_ed25519
    repo = _recipe(tmp_path / "r", links={"compose.admin.yml": relative})
    _refused(tmp_path, overlays, repo, f"compose.admin.yml: compose.admin.yml (a symlink to {relative}) leads out")


def test_a_folder_as_a_config_file_is_refused(tmp_path: Path, overlays: Path) -> None:
    _refused(tmp_path, overlays, _recipe(tmp_path / "r", _compose("release")), "release is a folder")


# -- what real recipes do keeps working -------------------------------------------------------

def test_files_inside_the_recipe_pass_as_real_recipes_write_them(tmp_path: Path, overlays: Path) -> None:
    """bonfire's shapes: a chain file in a subfolder whose `file:` paths are relative to the
    recipe root (the first compose file's folder), golang templates, external secrets, `${VAR:-v1}`
    in names; plus a symlink that stays inside and an env_file."""
    admin = (FIXTURE / "compose.admin.yml").read_text()
    sub = ("version: '3.8'\nservices:\n  app:\n    env_file: [conf/app.env]\n"
           "configs:\n  entry:\n    name: ${STACK_NAME}_entry_${ENTRY_VERSION:-v1}\n    file: postgres/entry.sh.tmpl\n"
           "    template_driver: golang\n  linked:\n    file: ./conf/../linked.conf\n"
           "secrets:\n  ext:\n    external: true\n")
    sample = (FIXTURE / ".env.sample").read_text() + 'COMPOSE_FILE="$COMPOSE_FILE:postgres/compose.tune.yml"\n'
    repo = _recipe(tmp_path / "r", links={"linked.conf": "conf/real.conf", "conf/httpd.conf": "../httpd.conf"},
                   env_sample=sample, **{"compose.admin.yml": admin, "postgres/compose.tune.yml": sub,
                                         "postgres/entry.sh.tmpl": "{{ env \"DOMAIN\" }}\n",
                                         "conf/real.conf": "x\n", "conf/app.env": "A=1\n"})
    driver = FakeDriver()
    result, _ = _run(tmp_path, overlays, driver, RECIPE=str(repo), STAGES="install")
    assert result.exit_code == 0 and [call.split()[0] for call in driver.calls] == ["new_app", "deploy", "teardown"]
    assert [f.rule for f in lint_recipe(repo, None, {}) if f.rule == "CCCI-L13"] == []


def test_the_bundled_recipes_pass() -> None:
    from runner.recipe.repos import bundled_recipe_repo
    for name in ("custom-html-tiny", "notes-tiny", "hops-tiny", "sso-tiny", "notes-sso"):
        repo = bundled_recipe_repo(name)
        assert [f.line() for f in lint_recipe(repo, None, {}) if f.rule == "CCCI-L13"] == []


# -- the pieces ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("template", "env", "expected"), [
    ("a/${X}/b", {"X": "x"}, "a/x/b"), ("$X.conf", {"X": "x"}, "x.conf"), ("$$X", {}, "$X"),
    ("${X:-d}", {"X": ""}, "d"), ("${X-d}", {"X": ""}, ""), ("${X-d}", {}, "d"), ("${x}", {"x": "l"}, "l"),
    ("${X:?need it}", {}, None), ("${X?need it}", {"X": ""}, ""), ("a$", {}, None), ("${UNSET}/etc", {}, "/etc"),
])
def test_interpolation_is_docker_stack_deploys(template: str, env: dict[str, str], expected: str | None) -> None:
    assert interpolate(template, env) == expected


def test_host_files_lists_every_client_side_read() -> None:
    chain = {"compose.yml": {
        "configs": {"a": {"file": "a.conf"}, "b": {"external": True}, "c": {"file": "c", "template_driver": "golang"}},
        "secrets": {"s": {"file": "s.txt"}, "t": {"name": "t", "external": True}},
        "services": {"app": {"env_file": "one.env"}, "db": {"env_file": ["x.env", {"path": "y.env"}]}, "w": None}}}
    assert list(host_files(chain)) == [
        ("compose.yml", "configs.a.file", "a.conf"), ("compose.yml", "configs.c.file", "c"),
        ("compose.yml", "secrets.s.file", "s.txt"), ("compose.yml", "services.app.env_file", "one.env"),
        ("compose.yml", "services.db.env_file[0]", "x.env"), ("compose.yml", "services.db.env_file[1]", "y.env")]


def test_the_work_tree_check_before_docker_stack_deploy_follows_the_same_rules(tmp_path: Path,
                                                                               secret_file: Path) -> None:
    """What the swarm driver runs on its checkout right before `docker stack deploy`, with the
    deploy's own env (it may differ from plan time: an upgrade keeps the base's values)."""
    root = tmp_path / "clone"
    (root / "conf").mkdir(parents=True)
    (root / "conf" / "ok.conf").write_text("x\n")
    os.symlink(str(secret_file), root / "conf" / "key")
    os.mkfifo(root / "fifo")
    lookup = bounded.work_tree(root)

    def check(path: str, env: dict[str, str] | None = None) -> None:
        check_host_files({"compose.yml": {"configs": {"c": {"file": path}}}}, "compose.yml", env or {}, lookup,
                         lambda name: name)
    check("conf/ok.conf")
    check("${D}/ok.conf", {"D": "conf"})
    check("missing.conf")  # docker refuses the deploy itself, reading nothing
    for path, env, phrase in (("conf/key", {}, "conf/key (a symlink to"), ("${D}/x", {"D": "/etc"}, "is an absolute"),
                              ("fifo", {}, "fifo is not a regular file"), ("${D}", {"D": ".."}, "leads out")):
        with pytest.raises(bounded.OutsideRecipe, match=rf"^compose\.yml: configs\.c\.file.*{re.escape(phrase)}"):
            check(path, env)


def test_the_work_tree_reader_refuses_a_symlink_out(tmp_path: Path, secret_file: Path) -> None:
    root = tmp_path / "clone"
    root.mkdir()
    os.symlink(str(secret_file), root / "abra.sh")
    with pytest.raises(bounded.OutsideRecipe, match=r"^abra\.sh: abra\.sh \(a symlink to .*\) leads out of the recipe"):
        bounded.read_file(root, "abra.sh")
    os.symlink("abra.sh", root / "compose.yml")
    with pytest.raises(bounded.OutsideRecipe):
        bounded.load_yaml_file(root, "compose.yml")


def test_the_readers_never_take_an_absolute_name_as_the_recipe_s(tmp_path: Path, secret_file: Path) -> None:
    # Every caller passes a recipe-relative name today; an absolute one would have read the host's
    # file (root / "/x" is /x): refused by the reader itself (found in review).
    root = tmp_path / "clone"
    root.mkdir()
    with pytest.raises(bounded.OutsideRecipe, match="is an absolute path, outside the recipe"):
        bounded.read_file(root, str(secret_file))


def test_a_symlink_target_is_followed_exactly_not_stripped(tmp_path: Path, secret_file: Path) -> None:
    """`conf -> "evil "` must be judged as "evil ", not as the regular file "evil" beside it."""
    repo = _recipe(tmp_path / "r", _compose("conf"), {"conf": "evil ", "evil ": str(secret_file)}, evil="x\n")
    with pytest.raises(bounded.OutsideRecipe, match="evil  \\(a symlink to"):
        bounded.show_file(repo, "HEAD", "conf")


# -- the commands -------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["check", "render", "lint"])
def test_check_render_and_lint_refuse_a_config_out_of_the_recipe(tmp_path: Path, secret_file: Path,
                                                                  command: str) -> None:
    repo = _recipe(tmp_path / "r", _compose(str(secret_file)))
    done = subprocess.run([sys.executable, "-m", "runner.cli", command, str(repo)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert "Traceback" not in done.stderr and "HARNESS HOST SECRET" not in done.stdout + done.stderr
    if command == "lint":
        assert done.returncode == 1, done.stderr
        errors = [line for line in done.stdout.splitlines() if " error " in line]
        assert len(errors) == 1 and errors[0].startswith("CCCI-L13  error compose.yml: configs.httpd_conf.file: ")
    else:
        assert done.returncode == EXIT_BAD_INPUT and done.stdout == "", done.stderr
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("cc-ci: error: ")
        assert f"compose.yml: configs.httpd_conf.file: {secret_file} is an absolute path" in done.stderr


class _RecordingTarget(FakeTarget):
    """A target whose host commands (`docker stack config`) are recorded, not run."""

    def host_env(self) -> dict[str, str]:
        return {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}

    def run_host(self, cmd: list[str], *, cwd: Path | None, env: dict[str, str]) -> ExecResult:
        self.calls.append(" ".join(cmd[:3]))
        return ExecResult(0, "rendered\n", "")


def test_the_swarm_driver_checks_again_with_the_deploys_own_env_before_docker_runs(tmp_path: Path,
                                                                                   secret_file: Path) -> None:
    """The env of a deploy may differ from the one checked at plan time (an upgrade keeps the
    base's values over the head's sample): the driver checks its work tree with it before the
    docker CLI runs (`render` and `deploy` share `_compose_chain`)."""
    repo = _recipe(tmp_path / "r", _compose("${CONF_DIR}/httpd.conf"),
                   env_sample=(FIXTURE / ".env.sample").read_text() + "CONF_DIR=.\n")
    target = _RecordingTarget()
    driver = SwarmDriver(DriverSettings(), target)  # type: ignore[arg-type]
    app = driver.new_app("custom-html-tiny", repo, "r1", tmp_path / "run", "HEAD")
    assert driver.render(app, "HEAD") == "rendered\n" and target.calls[-1] == "docker stack config"
    ran = len(target.calls)
    app.env["CONF_DIR"] = str(secret_file.parent)  # e.g. kept from the base's .env.sample
    (secret_file.parent / "httpd.conf").write_text("HARNESS HOST SECRET\n")
    with pytest.raises(bounded.OutsideRecipe, match=rf"^compose\.yml: configs\.httpd_conf\.file '\$\{{CONF_DIR\}}/httpd\.conf': "
                                                    rf"{re.escape(str(secret_file.parent))}/httpd\.conf is an absolute path"):
        driver.render(app, "HEAD")
    assert len(target.calls) == ran  # the docker CLI never ran for it
