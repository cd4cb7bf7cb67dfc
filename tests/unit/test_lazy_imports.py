"""A run imports only what its target, driver and command need (issue 25): each import here cost
a run's start-up 0.1–0.3 s. Each check is a fresh interpreter, as an operator starts one."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from runner.plumbing.paths import REPO_ROOT


def _imported(code: str, **env: str) -> set[str]:
    """The modules a fresh interpreter has imported after running `code`."""
    environ = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"} | env
    done = subprocess.run([sys.executable, "-c", f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m, v in sys.modules.items() if v is not None)))"],
                          cwd=REPO_ROOT, env=environ, capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


LOCAL_RUN = ("import runner.run_recipe_ci, runner.targets.local, runner.drivers.swarm.driver, "
             "runner.tiers.warm_pytest, runner.pictures.shots")


def test_a_run_on_the_local_target_never_imports_paramiko() -> None:
    """paramiko is the SSH target's; docker-py would import it for its own ssh:// transport."""
    modules = _imported(LOCAL_RUN)
    assert "docker" in modules and "paramiko" not in modules


def test_a_run_never_imports_httpxs_command_line_client() -> None:
    modules = _imported(f"{LOCAL_RUN}\nimport httpx")  # as the run does while its first op converges
    assert "httpx" in modules and not {"httpx._main", "click", "pygments"} & modules


def test_a_run_starts_without_httpx_and_loads_it_while_the_engine_converges() -> None:
    """httpx is first needed once the app runs: a run puts its import off until the first wait."""
    assert "httpx" not in _imported(LOCAL_RUN)
    modules = _imported("import runner.plumbing.idle as idle, importlib\n"
                        "import runner.orchestrator\n"
                        "idle.later(lambda: importlib.import_module('httpx'))\n"
                        "assert 'httpx' not in __import__('sys').modules\n"
                        "idle.run()")
    assert "httpx" in modules


def test_a_run_records_its_summary_card_without_importing_jinja2() -> None:
    """The run only records the card as `making` when it ends; the detached maker draws it."""
    assert "jinja2" not in _imported(f"{LOCAL_RUN}\nimport runner.pictures.card")


def test_a_run_never_imports_the_browser_before_it_takes_a_picture() -> None:
    assert "playwright" not in _imported(LOCAL_RUN)


def test_the_ssh_target_still_imports_paramiko_itself() -> None:
    assert "paramiko" in _imported(f"{LOCAL_RUN}\nimport runner.targets.ssh")


def test_docker_py_keeps_its_own_ssh_transport_for_a_docker_host_over_ssh() -> None:
    """An operator's DOCKER_HOST=ssh://… is docker-py's own business: it still gets its transport."""
    modules = _imported(f"{LOCAL_RUN}\nimport docker.transport\nassert hasattr(docker.transport, 'SSHHTTPAdapter')",
                        DOCKER_HOST="ssh://nobody@127.0.0.1:1")
    assert "paramiko" in modules


@pytest.mark.parametrize("command", ["check", "run", "lint", "render"])
def test_a_command_imports_no_other_commands_module(command: str) -> None:
    """`cc-ci check` needs neither the bridge nor the dashboard (0.5 s of imports); `cc-ci --help`
    still lists every command (tests/unit/test_run_command.py)."""
    modules = _imported(f"import contextlib\nfrom runner import cli\nwith contextlib.suppress(SystemExit):\n"
                        f"    cli.main([{command!r}, '--help'])")
    assert f"runner.commands.{command}" in modules
    assert not {m for m in modules if m.startswith(("runner.bridge", "runner.dashboard", "runner.catalogue"))}
