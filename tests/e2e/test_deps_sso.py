"""Issue 26's Done-when with the bundled fixtures: notes-sso (`DEPS = ["sso-tiny"]`) and the
identity provider it needs, sso-tiny, on the local swarm. One test, its runs reused between the
assertions: two runs at once (one of them all five stages) share one freshly deployed provider (one
deploys it, the other reuses it) and pass, each in a realm of its own; a run whose provisioning
fails turns its `requires_deps` test red; a provider that lost its state is replaced, not reused; `cc-ci gc
--ttl 0` then removes it, and nothing is left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from runner.plumbing.paths import REPO_ROOT
from runner.run.rundir import RunDir
from runner.swarm.reach import exec_in_app
from runner.targets.local import connect as docker_client
from tests.e2e.support import RunOutcome, asked, suite_objects, tier

pytestmark = pytest.mark.e2e

FIVE = "install,upgrade,backup,restore,custom"
REFUSED = "sso-admin: the realms cannot be written"  # what the broken sso-admin says

# a dependent of sso-tiny that deploys without it: the example with DEPS and a requires_deps test
NEEDS_IT = '''
import pytest


@pytest.mark.requires_deps("sso-tiny")
def test_signs_in_at_the_provider(deps):
    assert deps["sso-tiny"]["issuer"]


def test_the_app_itself_is_fine_without_it(deps):
    assert "sso-tiny" not in deps
'''


def _run(run_ci: Callable[..., RunOutcome], runs: Path, **env: str) -> tuple[RunOutcome, dict[str, Any]]:
    """One run in a runs dir of its own (runs go on side by side), and its results.json."""
    outcome = run_ci(CCCI_RUNS_DIR=str(runs), **env)
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    return outcome, json.loads(RunDir(run_dir).results.read_text())


def _in_provider(stack: str, *cmd: str, reads: bool = False) -> str:
    """The command's output, through the harness's exec: a bare exec_run can hand back empty
    output for a command that printed (moby#27289, seen under the parallel suite's load)."""
    return exec_in_app(docker_client(), stack, "app", list(cmd), rerun_if_output_lost=reads).stdout


def _outputs(results: dict[str, Any], outcome: RunOutcome) -> str:
    """Everything a run printed or wrote but its app env (the deploy's input, unscrubbed by
    design) and its clone of the recipe."""
    root = Path(results["run_dir"])
    files = [p for p in root.rglob("*") if p.is_file() and p.name != "app.env" and "recipe" not in p.relative_to(root).parts]
    return outcome.stdout + outcome.stderr + "".join(p.read_text(errors="replace") for p in files)


def _gc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runner.cli", "gc", *args], cwd=REPO_ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=120)


def test_notes_sso_shares_one_sso_tiny_each_run_in_its_own_realm_and_gc_removes_it(
        run_ci: Callable[..., RunOutcome], tmp_path: Path) -> None:
    deps_dir = tmp_path / "deps"
    env = {"RECIPE": "notes-sso", "CCCI_DEPS_DIR": str(deps_dir)}
    failing = tmp_path / "tests"  # the example with DEPS and a requires_deps test
    (failing / "custom-html-tiny").mkdir(parents=True)
    (failing / "custom-html-tiny" / "recipe_meta.py").write_text('DEPS = ["sso-tiny"]\n')
    (failing / "custom-html-tiny" / "test_install.py").write_text(NEEDS_IT)
    stacks: list[str] = []
    try:
        # two runs at once, before any provider runs: one deploys it, both share it and pass
        with ThreadPoolExecutor(2) as pool:
            five_job = pool.submit(_run, run_ci, tmp_path / "five", STAGES=FIVE, **env)
            beside_job = pool.submit(_run, run_ci, tmp_path / "beside", STAGES="install", **env)
            (five, five_results), (beside, beside_results) = five_job.result(), beside_job.result()
        assert five.returncode == 0, five.stderr
        assert beside.returncode == 0, beside.stderr
        assert [(t["op"], t["verdict"]) for t in asked(five_results)] == [(op, "pass") for op in FIVE.split(",")]
        assert tier(five_results, "custom")["counts"]["passed"] == 2  # the browser login and the API
        (mine,), (theirs,) = five_results["deps"], beside_results["deps"]
        stack = mine["stack"]
        stacks.append(stack)
        assert theirs["stack"] == stack and mine["name"] == theirs["name"] == "sso-tiny"
        assert sorted([mine["how"], theirs["how"]]) == ["fresh", "reused"]  # deployed once
        assert mine["version"] == "1.0.0+1.0" and mine["error"] is None and theirs["error"] is None

        # each run signs in with a realm of its own: the provider holds one per run, named after it
        realms = {r for r in _in_provider(stack, "sso-admin", "realms", reads=True).split() if r.startswith("run-")}
        assert realms == {f"run-{five_results['run_id']}", f"run-{beside_results['run_id']}"}

        # no provisioned secret in anything the five-stage run printed or wrote
        realm = f"/var/lib/sso/realms/run-{five_results['run_id']}"
        secrets = [_in_provider(stack, "cat", f"{realm}/client_secret", reads=True),
                   _in_provider(stack, "cat", f"{realm}/users/ada", reads=True)]
        assert all(len(s) >= 24 for s in secrets), f"a provisioned value read back short: {[len(s) for s in secrets]}"
        assert not [s for s in secrets if s in _outputs(five_results, five)]

        # provisioning made to fail (the provider's sso-admin breaks; its health does not): the next
        # run reuses the provider, its requires_deps test is red with why, not skipped; the rest passes
        _in_provider(stack, "sh", "-c", f"printf '#!/bin/sh\\necho {REFUSED} >&2\\nexit 1\\n' > /usr/local/bin/sso-admin")
        refused, refused_results = _run(run_ci, tmp_path / "refused", STAGES="install", RECIPE="custom-html-tiny",
                                        CCCI_OVERLAY_DIR=str(failing / "custom-html-tiny"), CCCI_DEPS_DIR=str(deps_dir))
        assert refused.returncode == 1, refused.stderr
        (failed,) = refused_results["deps"]
        assert (failed["how"], failed["stack"]) == ("failed", stack)
        assert "sso-tiny's provision failed: " in failed["error"]
        install = tier(refused_results, "install")
        red = install["counts"].get("failed", 0) + install["counts"].get("error", 0)  # it fails at its setup
        assert install["verdict"] == "fail" and red == 1 and install["counts"].get("skipped", 0) == 0, install
        junit = RunDir(Path(refused_results["run_dir"])).junit("install").read_text()
        assert "requires_deps: sso-tiny could not be provided: sso-tiny&apos;s provision failed: " in junit \
            or "requires_deps: sso-tiny could not be provided: sso-tiny's provision failed: " in junit, junit

        # a provider that lost its state answers 503 at its HEALTH_PATH: the next run replaces it
        _in_provider(stack, "rm", "-rf", "/var/lib/sso/realms")
        replaced, replaced_results = _run(run_ci, tmp_path / "replaced", STAGES="install", **env)
        assert replaced.returncode == 0, replaced.stderr
        (fresh,) = replaced_results["deps"]
        stacks.append(fresh["stack"])
        assert fresh["how"] == "fresh" and fresh["stack"] != stack
        assert "(GET /cgi-bin/health answered 503): replacing it, never reusing it" in replaced.stderr
        assert [o for o in suite_objects() if stack in o] == []  # the broken one is gone
        assert [o for o in suite_objects() if fresh["stack"] in o], "the new provider is left running"
    finally:
        said = ""
        for provider_run in [p.name for p in deps_dir.glob("*/dep-*") if RunDir(p).dep_json.is_file()]:
            gone = _gc("--ttl", "0", "--run", provider_run)  # only this test's provider: the swarm is shared
            assert gone.returncode == 0, gone.stderr
            said += gone.stderr
    assert "a shared dependency idle for" in said and "past the TTL of 0s" in said
    assert [o for o in suite_objects() if any(s in o for s in stacks)] == []
