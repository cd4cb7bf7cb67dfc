"""Dependencies (issue 26): handed to the run's hooks, tiers and app env; leased while the run
lives; deployed once under a lock, replaced when broken; provisioned values scrubbed; gc keeps a
leased one and removes an idle one past the TTL."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from starlette.testclient import TestClient

from runner.commands import gc as gc_command
from runner.commands.gc import _duration
from runner.dashboard.catalog import RunsDirCatalog
from runner.dashboard.pages import serve_app
from runner.deps.shared import SharedDeps, Slot, slot_of
from runner.ops import LIFECYCLE
from runner.orchestrator import Run
from runner.plumbing.paths import REPO_ROOT
from runner.plumbing.scrub import MASK, scrubber
from runner.recipe.repos import bundled_recipe_repo
from runner.run.app import App
from runner.run.config import RunConfig
from runner.run.deps import DEPS_VAR, ProvidedDep, is_public, mark_released, scrub_provisioned
from runner.run.opstate import OpState
from runner.run.rundir import RunDir
from runner.run.runlock import exclusive, lease, run_is_alive, run_lock
from runner.swarm.gc import FoundRun, Judgement, judge
from runner.tiers.tier import TierResult
from tests.unit.fake_driver import FakeDriver
from tests.unit.forked_pytest import WARM_ARGS, ForkServer
from tests.unit.test_dashboard import BROWSER_ACCEPT
from tests.unit.test_run_page_says_why import RUN, _failed_run

SECRET = "prov-secret-7f3a9c"  # what a provider's provision returns: never in any output
ISSUER = "http://prov-app_ccci_test_app:8080/realms/r1"  # a public URL: shown


class FakeDeps:
    """A provider: scrubs what it provisioned (as SharedDeps does) and records when its lease ends."""

    def __init__(self, driver: FakeDriver, error: str | None = None) -> None:
        self.driver, self.error = driver, error
        self.wanted: list[str] = []
        self.released_after: list[str] = []

    @contextlib.contextmanager
    def provide(self, wanted: list[str], target: object, say: Callable[[str], None]) -> Iterator[list[ProvidedDep]]:
        self.wanted = wanted
        values = {"issuer": ISSUER, "client_secret": SECRET}
        if self.error:
            yield [ProvidedDep(name="prov", wanted=None, error=self.error)]
            return
        scrub_provisioned(values)
        yield [ProvidedDep(name="prov", wanted=None, version="1.0.0+1.0", reused=False, provision_s=0.25,
                           stack="prov-1_test", domain="prov-1.test", values=values)]
        self.released_after = list(self.driver.calls)


class Tiers:
    def __init__(self) -> None:
        self.env: dict[str, dict[str, str]] = {}

    def __call__(self, op: str, files: list[Path], run_dir: RunDir, env: dict[str, str]) -> TierResult:
        self.env[op] = env
        return TierResult(op, "pass", counts={"passed": 1})


def _dependent(overlays: Path, deps_env: str) -> None:
    (overlays / "custom-html-tiny" / "recipe_meta.py").write_text(f"DEPS = ['prov']\nDEPS_ENV = {deps_env}\n")
    (overlays / "custom-html-tiny" / "ops.py").write_text(
        "def pre_install(ctx):\n    return sorted(ctx.deps['prov'])\n")
    (overlays / "prov").mkdir()
    (overlays / "prov" / "ops.py").write_text("def provision(ctx, for_run):\n    return {}\n")


def _run(tmp_path: Path, overlays: Path, deps: FakeDeps, driver: FakeDriver, tiers: Tiers) -> Run:
    bundled_recipe_repo("custom-html-tiny")
    config = RunConfig.from_env({"RECIPE": "custom-html-tiny", "CCCI_RUNS_DIR": str(tmp_path / "runs"),
                                 "STAGES": "install"}, LIFECYCLE)
    run = Run(config, console=Console(file=open(os.devnull, "w")), driver_factory=lambda c, s: driver,
              tests_dir=overlays, tier_runner=tiers, deps=deps)
    run.execute()
    return run


def test_a_run_gets_its_deps_in_hooks_tiers_and_app_env_before_the_first_deploy_and_lists_them(
        tmp_path: Path, overlays: Path) -> None:
    _dependent(overlays, "{'OIDC_ISSUER': '{prov.issuer}', 'OIDC_SECRET': '{prov.client_secret}'}")
    driver, tiers = FakeDriver(), Tiers()
    deps = FakeDeps(driver)
    run = _run(tmp_path, overlays, deps, driver, tiers)
    assert deps.wanted == ["prov"] and run.result.exit_code == 0
    # the app starts configured: DEPS_ENV was in its env at its first deploy
    assert driver.deployed_env is not None
    assert (driver.deployed_env["OIDC_ISSUER"], driver.deployed_env["OIDC_SECRET"]) == (ISSUER, SECRET)
    # the lease ends after the run's own app is gone
    assert deps.released_after[-1] == "teardown"
    # hooks: ctx.deps; tiers: the deps fixture's variable
    state = OpState.load(run.run_dir.op_state, LIFECYCLE.records)
    assert state["install"].seed == ["client_secret", "issuer"]
    given = json.loads(tiers.env["install"][DEPS_VAR])
    assert given == {"provided": {"prov": {"issuer": ISSUER, "client_secret": SECRET}}, "failed": {}}
    # results.json, the summary (the PR comment) and the console list it; no output has the secret
    results = json.loads(run.run_dir.results.read_text())
    assert results["deps"] == [{"name": "prov", "version": "1.0.0+1.0", "reused": False, "how": "fresh",
                                "provision_s": 0.25, "stack": "prov-1_test", "domain": "prov-1.test",
                                "run_dir": None, "error": None}]
    summary = run.run_dir.summary.read_text()
    assert "**dependencies:**" in summary and "- prov 1.0.0+1.0: fresh (prov-1_test), provisioned in 0.2s" in summary
    assert "dependency prov: deployed prov-1_test" in run.run_dir.run_log.read_text()
    for path in (run.run_dir.results, run.run_dir.summary, run.run_dir.run_log, run.run_dir.app_json,
                 run.run_dir.op_state, run.run_dir.meta_json):
        assert SECRET not in path.read_text(), path.name
    assert MASK in run.run_dir.app_json.read_text()  # the app's env as the fixtures see it: masked
    assert f"OIDC_SECRET=\"{SECRET}\"" in run.run_dir.app_env.read_text()  # the deploy's own input keeps it


def test_a_dependency_not_provided_is_said_its_env_left_out_and_its_tests_told_why(
        tmp_path: Path, overlays: Path) -> None:
    _dependent(overlays, "{'OIDC_ISSUER': '{prov.issuer}'}")
    (overlays / "custom-html-tiny" / "ops.py").write_text("def pre_install(ctx):\n    return sorted(ctx.deps)\n")
    driver, tiers = FakeDriver(), Tiers()
    run = _run(tmp_path, overlays, FakeDeps(driver, error="prov's provision failed: boom"), driver, tiers)
    assert driver.deployed_env is not None and "OIDC_ISSUER" not in driver.deployed_env
    log = run.run_dir.run_log.read_text()
    assert "dependency prov: NOT PROVIDED — prov's provision failed: boom" in log
    assert "DEPS_ENV: OIDC_ISSUER: prov not provided: left out of the app env" in log
    assert json.loads(tiers.env["install"][DEPS_VAR])["failed"] == {"prov": "prov's provision failed: boom"}
    assert json.loads(run.run_dir.results.read_text())["deps"][0]["how"] == "failed"
    assert "- prov head: NOT PROVIDED — prov's provision failed: boom" in run.run_dir.summary.read_text()


def test_provisioned_values_are_scrubbed_from_every_output_but_public_urls(tmp_path: Path) -> None:
    """The real provisioning path: the dependency's ops.py `provision(ctx, for_run)`, per run."""
    run_dir = RunDir(tmp_path / "dep-prov-1")
    (run_dir.tests / "prov").mkdir(parents=True)
    (run_dir.tests / "prov" / "ops.py").write_text(
        "def provision(ctx, for_run):\n"
        "    return {'issuer': 'http://' + ctx.service_address('app') + ':8080/realms/' + for_run,\n"
        "            'client_id': 'client-' + for_run, 'client_secret': 'S3cret-' + for_run[::-1],\n"
        "            'login': 'https://user:pw-' + for_run + '@x/'}\n")
    run_dir.meta_json.write_text(json.dumps({}))
    run_dir.op_state.write_text(json.dumps({"run_id": "r", "recipe": "prov", "head_commit": "abc", "stages": [], "ops": {}}))
    app = App(recipe="prov", run_id="dep-prov-1", domain="prov-1.test", stack="prov-1_test",
              checkout=tmp_path, run_dir=run_dir.root, env={})
    config = RunConfig.model_validate({"recipe": "custom-html-tiny", "run_id": "run-aaa111"}, context={"lifecycle": LIFECYCLE})
    values = SharedDeps(config, tmp_path)._provision("prov", app, run_dir, target=None)  # type: ignore[arg-type]
    assert values["issuer"] == "http://prov-1_test_app:8080/realms/run-aaa111"
    text = scrubber.scrub(" ".join(values.values()))
    assert "http://prov-1_test_app:8080/realms/run-aaa111" in text  # public: a URL without user or query
    for secret in ("client-run-aaa111", "S3cret-111aaa-nur", "https://user:pw-run-aaa111@x/"):
        assert secret not in text
    assert is_public(ISSUER) and not is_public("https://a/?token=x") and not is_public("client-1")


def test_a_provision_that_returns_no_string_dict_is_refused(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path / "d")
    (run_dir.tests / "prov").mkdir(parents=True)
    (run_dir.tests / "prov" / "ops.py").write_text("def provision(ctx, for_run):\n    return {'port': 8080}\n")
    run_dir.meta_json.write_text("{}")
    run_dir.op_state.write_text(json.dumps({"run_id": "r", "recipe": "prov", "head_commit": "a", "stages": [], "ops": {}}))
    app = App(recipe="prov", run_id="d", domain="d.test", stack="d_test", checkout=tmp_path, run_dir=run_dir.root, env={})
    config = RunConfig.model_validate({"recipe": "custom-html-tiny"}, context={"lifecycle": LIFECYCLE})
    with pytest.raises(Exception, match=r"provision must return dict\[str, str\], got dict"):
        SharedDeps(config, tmp_path)._provision("prov", app, run_dir, target=None)  # type: ignore[arg-type]


# -- deployed once, shared, leased, replaced when broken --------------------------------------


class _Target:
    address = "local"


def _shared(tmp_path: Path, deploys: list[str], unhealthy: str | None = None,
            removed: list[str] | None = None) -> SharedDeps:
    """SharedDeps whose deploy (a real Run elsewhere) makes a stand-in run dir, slowly."""
    config = RunConfig.model_validate({"recipe": "custom-html-tiny", "deps_dir": tmp_path / "deps"},
                                      context={"lifecycle": LIFECYCLE})
    shared = SharedDeps(config, tmp_path)

    def deploy(slot: Slot, dep: ProvidedDep, say: Callable[[str], None]) -> RunDir:
        time.sleep(0.3)  # a concurrent first run arrives meanwhile
        run_dir = slot.run_dir(f"dep-prov-{len(deploys)}")
        deploys.append(run_dir.root.name)
        run_dir.root.mkdir(parents=True)
        run_dir.app_json.write_text(json.dumps(App(recipe="prov", run_id=run_dir.root.name, domain="p.test",
                                                   stack=f"p{len(deploys)}_test", checkout=tmp_path,
                                                   run_dir=run_dir.root, env={}).describe()))
        mark_released(run_dir, 0.0)
        slot.current_file.write_text(run_dir.root.name)
        return run_dir

    shared._deploy = deploy  # type: ignore[method-assign]
    shared._unhealthy = lambda run_dir, target: unhealthy  # type: ignore[method-assign]
    shared._remove = lambda run_dir, target, say: (removed if removed is not None else []).append(run_dir.root.name)  # type: ignore[method-assign]
    return shared


def _lease(shared: SharedDeps, out: list[Any], hold: threading.Event | None = None) -> None:
    with contextlib.ExitStack() as leases:
        dep = ProvidedDep(name="prov", wanted=None)
        app, run_dir = shared._leased(dep, _Target(), lambda line: None, leases)  # type: ignore[arg-type]
        out.append((dep.reused, run_dir.root.name, run_is_alive(run_dir.root)))
        if hold is not None:
            hold.wait(5)


def test_concurrent_first_runs_deploy_it_once_and_share_it_under_leases(tmp_path: Path) -> None:
    deploys: list[str] = []
    shared, out = _shared(tmp_path, deploys), list[Any]()
    release = threading.Event()
    runs = [threading.Thread(target=_lease, args=(shared, out, release)) for _ in range(2)]
    for run in runs:
        run.start()
    deadline = time.monotonic() + 5
    while len(out) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert deploys == ["dep-prov-0"]  # deployed once, by whichever came first
    assert sorted(out) == [(False, "dep-prov-0", True), (True, "dep-prov-0", True)]  # both leased it at once
    release.set()
    for run in runs:
        run.join()
    run_dir = RunDir(tmp_path / "deps" / next(p.name for p in (tmp_path / "deps").iterdir()) / "dep-prov-0")
    assert not run_is_alive(run_dir.root)  # both leases gone
    assert json.loads(run_dir.dep_json.read_text())["released_at"] > 0  # gc's idle clock starts at the last release


def test_a_broken_shared_dependency_is_replaced_never_reused(tmp_path: Path) -> None:
    deploys: list[str] = []
    _lease(_shared(tmp_path, deploys), [])
    removed: list[str] = []
    out: list[Any] = []
    _lease(_shared(tmp_path, deploys, unhealthy="GET / did not answer", removed=removed), out)
    assert removed == ["dep-prov-0"] and deploys == ["dep-prov-0", "dep-prov-1"]
    assert out == [(False, "dep-prov-1", True)]  # fresh, not reused
    out.clear()
    _lease(_shared(tmp_path, deploys), out)  # healthy: reused
    assert out == [(True, "dep-prov-1", True)] and len(deploys) == 2


def test_slots_are_per_target_and_version() -> None:
    base = slot_of(Path("/d"), "prov", None, "local", "h")
    assert base == slot_of(Path("/d"), "prov", None, "local", "h")
    assert base != slot_of(Path("/d"), "prov", "1.0.0", "local", "h") != slot_of(Path("/d"), "prov", None, "ssh://x", "h")


def test_a_lease_is_shared_keeps_the_app_alive_and_refuses_an_exclusive_lock(tmp_path: Path) -> None:
    root = tmp_path / "dep"
    root.mkdir()
    assert not run_is_alive(root)
    with lease(root), lease(root):
        assert run_is_alive(root)
        with pytest.raises(BlockingIOError), run_lock(root):
            pass
    assert not run_is_alive(root)
    with exclusive(tmp_path / "deploy.lock", 0.0) as first:
        with exclusive(tmp_path / "deploy.lock", 0.3) as second:
            assert (first, second) == (True, False)


# -- gc: leased kept, idle past the TTL removed ----------------------------------------------


def _judge_dep(leased: bool, idle_s: float, ttl_s: float) -> tuple[bool, str]:
    run = FoundRun("prov-1_test", "dep-prov-1", "host-a", Path("/deps/prov-x/dep-prov-1"))
    found = judge(run, own_host="host-a", runs_dir=Path("/runs"), now=0.0, ttl_s=ttl_s,
                  lock_alive=lambda path: leased, idle_since=lambda path: 1000.0, wall_now=lambda: 1000.0 + idle_s)
    return found.remove, found.why


def test_gc_never_removes_a_leased_dependency_and_removes_an_idle_one_past_the_ttl() -> None:
    assert _judge_dep(leased=True, idle_s=10_000, ttl_s=0) == (False, "a shared dependency, leased by a run using it: kept")
    assert _judge_dep(leased=False, idle_s=900, ttl_s=900) == (
        False, "a shared dependency idle for 900s, within the TTL of 900s: kept")
    assert _judge_dep(leased=False, idle_s=900.5, ttl_s=900) == (
        True, "a shared dependency idle for 900s, past the TTL of 900s")
    assert _judge_dep(leased=False, idle_s=0.1, ttl_s=0)[0] is True  # --ttl 0: as soon as no run leases it
    assert _duration("0") == 0.0 and _duration("30m") == 1800.0


def test_gc_tells_a_dependency_by_its_run_dir_and_an_ordinary_run_is_judged_as_before(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path / "dep-prov-1")
    run_dir.root.mkdir()
    mark_released(run_dir, 1000.0)
    run = FoundRun("prov-1_test", "dep-prov-1", "host-a", run_dir.root)
    kept = judge(run, own_host="host-a", runs_dir=tmp_path, now=0.0, ttl_s=60, wall_now=lambda: 1030.0)
    gone = judge(run, own_host="host-a", runs_dir=tmp_path, now=0.0, ttl_s=60, wall_now=lambda: 1061.0)
    assert (kept.remove, gone.remove) == (False, True)
    ordinary = FoundRun("x_test", "run-x", "host-a", tmp_path / "run-x")
    assert judge(ordinary, own_host="host-a", runs_dir=tmp_path, now=0.0, ttl_s=60).why.startswith("no run holds the lock")


# -- the deps fixture and the requires_deps marker ------------------------------------------


def test_requires_deps_makes_a_test_red_not_skipped_when_its_dependency_was_not_provided(
        tmp_path: Path, fork_server: ForkServer) -> None:
    # the fixture and the marker, not the start of pytest: forked from the warm server
    (tmp_path / "conftest.py").write_text((REPO_ROOT / "tests" / "conftest.py").read_text())
    (tmp_path / "test_login.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.requires_deps('prov')\ndef test_login(deps):\n    assert deps['prov']['issuer']\n\n"
        "def test_plain(deps):\n    assert 'prov' not in deps\n")
    env = {**os.environ, DEPS_VAR: json.dumps({"provided": {}, "failed": {"prov": "prov's provision failed: boom"}}),
           "PYTHONPATH": str(REPO_ROOT)}
    done = fork_server.run(["-q", "-p", "no:cacheprovider", "-rE", *WARM_ARGS, str(tmp_path)], env, cwd=tmp_path)
    assert done.exit_code == 1, done.stdout
    assert "requires_deps: prov could not be provided: prov's provision failed: boom" in done.stdout
    assert "1 passed, 1 error" in done.stdout and "skipped" not in done.stdout
    env[DEPS_VAR] = json.dumps({"provided": {"prov": {"issuer": "http://x/"}}, "failed": {}})
    (tmp_path / "test_login.py").write_text(
        "import pytest\n\n@pytest.mark.requires_deps('prov')\ndef test_login(deps):\n    assert deps['prov']['issuer']\n")
    done = fork_server.run(["-q", "-p", "no:cacheprovider", *WARM_ARGS, str(tmp_path)], env, cwd=tmp_path)
    assert done.exit_code == 0, done.stdout


def test_the_run_page_lists_the_dependencies_used(tmp_path: Path) -> None:
    run = _failed_run(tmp_path / "runs")
    results = json.loads(RunDir(run).results.read_text())
    results["deps"] = [
        ProvidedDep(name="sso-tiny", wanted=None, version="1.0.0+0.1", reused=True, provision_s=0.42,
                    stack="sso-tiny-1a2b3c4d_ccci_test", values={"client_secret": SECRET}).result(),
        ProvidedDep(name="mail-tiny", wanted="2.0.0", error="mail-tiny's provision failed: boom").result()]
    RunDir(run).results.write_text(json.dumps(results))
    page = TestClient(serve_app(RunsDirCatalog(tmp_path / "runs"))).get(f"/runs/{RUN}", headers={"Accept": BROWSER_ACCEPT}).text
    deps = page[page.index('<section id="deps">'):]
    deps = deps[:deps.index("</section>")]
    assert "<td>sso-tiny</td><td>1.0.0+0.1</td>" in deps and ">reused</td>" in deps and "<td>0.4s</td>" in deps
    assert "<code>sso-tiny-1a2b3c4d_ccci_test</code>" in deps
    assert "<td>mail-tiny</td><td>2.0.0</td>" in deps and "failed: mail-tiny&#39;s provision failed: boom" in deps
    assert SECRET not in page


class _Verdict(Tiers):
    def __init__(self, verdict: str) -> None:
        super().__init__()
        self.verdict = verdict

    def __call__(self, op: str, files: list[Path], run_dir: RunDir, env: dict[str, str]) -> TierResult:
        return TierResult(op, self.verdict, counts={"passed": 1})


@pytest.mark.parametrize(("verdict", "kept"), [("pass", True), ("fail", False)])
def test_a_dependencys_own_run_keeps_its_app_only_when_its_install_floor_passed(
        tmp_path: Path, overlays: Path, verdict: str, kept: bool) -> None:
    bundled_recipe_repo("custom-html-tiny")
    config = RunConfig.from_env({"RECIPE": "custom-html-tiny", "CCCI_RUNS_DIR": str(tmp_path / "slot"),
                                 "STAGES": "install"}, LIFECYCLE)
    driver = FakeDriver()
    run = Run(config, console=Console(file=open(os.devnull, "w")), driver_factory=lambda c, s: driver,
              tests_dir=overlays, tier_runner=_Verdict(verdict), keep_app=True)
    run.execute()
    assert run.kept is kept
    assert ("teardown" in driver.calls) is not kept  # a broken one is torn down, never left for reuse
    # marked a dependency's while its run still held its lock: gc never takes it for a dead run
    assert run.run_dir.dep_json.is_file() is kept


def test_gc_removes_a_dependency_only_under_its_deploy_lock_and_never_once_a_run_took_its_lease(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    slot = Slot(tmp_path / "prov-x")
    run_dir = slot.run_dir("dep-prov-1")
    run_dir.root.mkdir(parents=True)
    mark_released(run_dir, 0.0)
    slot.current_file.write_text("dep-prov-1\n")
    removed: list[str] = []
    monkeypatch.setattr(gc_command, "remove_stack", lambda client, stack: removed.append(stack) or [])
    doomed = Judgement(FoundRun("prov-1_test", "dep-prov-1", "host-a", run_dir.root), True, "idle")
    target: Any = type("T", (), {"client": None})()
    with lease(run_dir.root):  # a run took its lease after gc judged it
        assert gc_command._remove(target, doomed) is None
    with exclusive(slot.deploy_lock, 0.0):  # a run is deciding about it
        assert gc_command._remove(target, doomed) is None
    assert removed == [] and run_dir.dep_json.is_file()
    assert gc_command._remove(target, doomed) == [] and removed == ["prov-1_test"]
    assert not run_dir.dep_json.exists() and slot.current() is None  # the next run deploys a fresh one
