"""A recipe with DEPS, for real (issue 26): its dependency, a test-local provider (the bundled
example under another name, with a `provision` that makes a realm page per run). Two first runs at
once: one deploys it (checked with its own install floor, left running), the other waits on the
deploy lock and reuses it; each gets its own realm, which its app reaches over the proxy network
at the provider's service address; `cc-ci gc --ttl 0` removes it once no run leases it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
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


def test_two_first_runs_at_once_share_one_provider_deployed_once_each_with_its_own_realm_and_gc_removes_it(
        run_ci: Callable[..., RunOutcome], tmp_path: Path) -> None:
    env = _setup(tmp_path)
    stack = "no provider"
    try:
        outcomes: list[RunOutcome] = []
        runs = [threading.Thread(target=lambda: outcomes.append(run_ci(**env))) for _ in range(2)]
        for run in runs:
            run.start()
        for run in runs:
            run.join()
        for outcome in outcomes:
            assert outcome.returncode == 0, outcome.stderr
        run_dirs = [RunDir(p) for p in outcomes[0].run_dirs]
        results = {d.root.name: json.loads(d.results.read_text()) for d in run_dirs}
        deps = sorted((r["deps"][0] for r in results.values()), key=lambda dep: dep["how"])
        fresh, reused = deps
        stack = fresh["stack"]
        # deployed once, under the lock, by whichever run came first; the other waited and reused it
        assert (fresh["how"], reused["how"]) == ("fresh", "reused") and reused["stack"] == stack
        assert [p.name for p in (tmp_path / "deps").glob("*/dep-*")] == [Path(fresh["run_dir"]).name]
        assert (fresh["name"], fresh["version"], fresh["error"]) == (PROVIDER, "1.1.0+1.1", None)
        # the provider's own run: its install floor passed, its app kept (never torn down)
        own = json.loads(RunDir(Path(fresh["run_dir"])).results.read_text())
        assert tier(own, "install")["verdict"] == "pass" and own["teardown_leftovers"] is None
        # each run's requires_deps test reached its own realm's page from its app, over the proxy network
        for result in results.values():
            assert tier(result, "install")["counts"] == {"passed": 7}
        stderr = outcomes[0].stderr + outcomes[1].stderr
        assert f"dependency {PROVIDER}: deployed {stack}" in stderr and f"dependency {PROVIDER}: reused {stack}" in stderr
        assert f"dependency: {PROVIDER} 1.1.0+1.1: fresh ({stack})" in stderr
        # the client secret is in no output; a pytest warning quoting it shows it masked
        outputs = "".join(o.stdout + o.stderr for o in outcomes) + "".join(
            f.read_text() for d in run_dirs
            for f in (d.results, d.summary, d.run_log, d.tier_log("install"), d.junit("install")))
        assert "client-secret-" not in outputs
        assert all("secret seen by the test: ********" in d.tier_log("install").read_text() for d in run_dirs)
        assert [o for o in suite_objects() if stack in o], "the provider is left running after its runs"
    finally:
        deployed = [p.name for p in (tmp_path / "deps").glob("*/dep-*") if RunDir(p).dep_json.is_file()]
        for provider_run in deployed:  # whatever happened: nothing of the provider is left
            there = bool([o for o in suite_objects() if stack in o])  # (another gc on this host may have been first)
            gone = _gc("--ttl", "0", "--run", provider_run)
            assert gone.returncode == 0, gone.stderr
            assert not there or f"gc: removed {stack} (run {provider_run}): a shared dependency idle for" in gone.stderr
            assert not there or "past the TTL of 0s" in gone.stderr
    assert not [o for o in suite_objects() if stack in o]
