"""A recipe with DEPS, for real (issue 26): its dependency, a test-local provider (the bundled
example under another name, with a `provision` that makes a realm page per run), is deployed once by
the first run, checked with its own install floor and left running; the second run reuses it and
gets its own realm; the dependent's app reaches it over the proxy network at its service address;
`cc-ci gc --ttl 0` removes it once no run leases it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.plumbing.paths import REPO_ROOT
from runner.recipe import git
from runner.recipe.repos import bundled_recipe_repo
from runner.run.rundir import RunDir
from tests.e2e.support import RunOutcome, suite_objects, tier

pytestmark = pytest.mark.e2e

PROVIDER = "prov-tiny"

PROVISION = '''
import secrets

def provision(ctx, for_run):
    realm = "realm-" + secrets.token_hex(4)
    secret = "client-secret-" + secrets.token_hex(8)
    ctx.exec_in("app", ["sh", "-c", f"echo {realm} > /srv/www/{realm}.html"])
    return {"issuer": f"http://{ctx.service_address('app')}/{realm}.html",
            "client_secret": secret}
'''

DEPENDENT_META = f'''
DEPS = ["{PROVIDER}"]
DEPS_ENV = {{"OIDC_ISSUER": "{{{PROVIDER}.issuer}}", "OIDC_CLIENT_SECRET": "{{{PROVIDER}.client_secret}}"}}
'''

DEPENDENT_TEST = f'''
import warnings

import pytest

@pytest.mark.requires_deps("{PROVIDER}")
def test_the_app_reaches_its_own_realm_of_the_shared_provider(deps, exec_in, app):
    mine = deps["{PROVIDER}"]
    assert app.env["OIDC_ISSUER"] == mine["issuer"]  # DEPS_ENV, in the app env from its first deploy
    page = exec_in("app", ["wget", "-q", "-O-", mine["issuer"]]).stdout
    assert page.strip() == mine["issuer"].rsplit("/", 1)[-1].removesuffix(".html")  # this run's own realm
    # pytest's warnings summary prints it into the tier's log: the scrubber masks it there
    warnings.warn("secret seen by the test: " + mine["client_secret"])
'''


def _setup(tmp_path: Path) -> dict[str, str]:
    repos, tests = tmp_path / "repos", tmp_path / "tests"
    git.git(None, "clone", "-q", str(bundled_recipe_repo("custom-html-tiny")), str(repos / PROVIDER))
    (tests / PROVIDER).mkdir(parents=True)
    (tests / PROVIDER / "ops.py").write_text(PROVISION)
    (tests / "notes-dep").mkdir()
    (tests / "notes-dep" / "recipe_meta.py").write_text(DEPENDENT_META)
    (tests / "notes-dep" / "test_install.py").write_text(DEPENDENT_TEST)
    return {"RECIPE": "custom-html-tiny", "STAGES": "install", "CCCI_OVERLAY_DIR": str(tests / "notes-dep"),
            "CCCI_RECIPE_URL_TEMPLATE": str(repos / "{name}"), "CCCI_RESOLVE_IMAGE": "never",
            "CCCI_DEPS_DIR": str(tmp_path / "deps")}


def _gc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runner.cli", "gc", *args], cwd=REPO_ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=120)


def test_a_dependency_is_deployed_once_reused_by_the_next_run_with_its_own_realm_and_gc_removes_it(
        run_ci: Callable[..., RunOutcome], tmp_path: Path) -> None:
    env = _setup(tmp_path)
    stack = "no provider"
    try:
        first = run_ci(**env)
        assert first.returncode == 0, first.stderr
        first_run, (dep,) = first.results["run_id"], first.results["deps"]
        stack = dep["stack"]
        assert (dep["name"], dep["how"], dep["reused"], dep["error"]) == (PROVIDER, "fresh", False, None)
        assert dep["version"] == "1.1.0+1.1" and dep["provision_s"] > 0
        # the provider's own run: its install floor passed, its app kept
        own = json.loads(RunDir(Path(dep["run_dir"])).results.read_text())
        assert tier(own, "install")["verdict"] == "pass" and own["teardown_leftovers"] is None
        assert tier(first.results, "install")["counts"].get("passed", 0) >= 7
        assert f"dependency {PROVIDER}: deployed {stack}" in first.stderr
        assert f"dependency: {PROVIDER} 1.1.0+1.1: fresh ({stack})" in first.stderr
        assert [o for o in suite_objects() if stack in o], "the provider is left running between runs"

        second = run_ci(**env)
        assert second.returncode == 0, second.stderr
        (second_dir,) = [RunDir(p) for p in second.run_dirs if p.name != first_run]
        (again,) = json.loads(second_dir.results.read_text())["deps"]
        assert (again["how"], again["reused"], again["stack"]) == ("reused", True, stack)
        assert f"dependency {PROVIDER}: reused {stack}" in second.stderr
        # each run's test compared the page with its own realm; the client secret is in no output
        outputs = first.stdout + first.stderr + second.stdout + second.stderr + "".join(
            f.read_text() for d in map(RunDir, second.run_dirs)
            for f in (d.results, d.summary, d.run_log, d.tier_log("install"), d.junit("install")))
        assert "client-secret-" not in outputs
        assert "secret seen by the test: ********" in second_dir.tier_log("install").read_text()
    finally:
        deployed = [p.name for p in (tmp_path / "deps").glob("*/dep-*") if RunDir(p).dep_json.is_file()]
        for provider_run in deployed:  # whatever happened: nothing of the provider is left
            gone = _gc("--ttl", "0", "--run", provider_run)
            assert gone.returncode == 0, gone.stderr
            assert "a shared dependency idle for" in gone.stderr and "past the TTL of 0s" in gone.stderr
    assert not [o for o in suite_objects() if stack in o]
