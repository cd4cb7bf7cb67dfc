"""E2E support: real runs on the local swarm, and a check that the suite leaves nothing behind.

`scripts/test` runs the suite in parallel (pytest-xdist): a run mostly waits on docker. Two things
make that as safe as the serial suite. The leftover check compares the engine before the first test
and after the last one in the process that runs the session (the xdist controller, or the only
process), so one worker's live stacks are never another's leftovers and a leak is still a failure.
And a test marked `alone` (one that judges every run on the swarm, such as a gc that reclaims
other hosts' stale runs) waits for the tests in flight to finish and holds the others off while it
runs: a readers-writer lock over the workers of one session. Tests that may overlap the rest but
not each other are marked `one_at_a_time("<name>")`: an exclusive lock per name. (Not xdist_group:
pytest-xdist 3.8 groups by rewriting `item._nodeid`, which pytest 9 no longer reads, so its groups
are silently ignored.)
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from runner.drivers.swarm import substrate
from runner.plumbing.paths import REPO_ROOT
from runner.recipe import git
from runner.recipe.repos import bundled_recipe_repo
from tests.e2e.support import RunOutcome, suite_objects

SUITE_DOMAIN_BASE = "ccci.test"  # every e2e run's stack ends in `_ccci_test`
E2E_DIR = Path(__file__).parent
_BEFORE = pytest.StashKey[list[str]]()


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _before_the_first_e2e_test(config: pytest.Config, nodeids: Iterable[str]) -> None:
    """Bring up the swarm and note what is on it, once, if the session runs any e2e test."""
    if _BEFORE in config.stash or not any(
            (config.rootpath / nodeid.split("::")[0]).is_relative_to(E2E_DIR) for nodeid in nodeids):
        return
    substrate.ensure_substrate(lambda message: print(f"swarm: {message}"))
    config.stash[_BEFORE] = suite_objects()


def pytest_collection_finish(session: pytest.Session) -> None:
    if not _is_worker(session.config):  # the one process of a serial session
        _before_the_first_e2e_test(session.config, [item.nodeid for item in session.items])


# Modules handed to one worker whole: their tests share a set-up worth a worker's minute (a module
# fixture: two runs, a bridge, a browser) or take one lock in turn (abra's backup bot). Spread one
# test at a time, each worker built the set-up again (3 × 40 s seen) or sat in setup waiting for the
# lock (58 s), while the module's tests on one worker cost that once and never wait.
WHOLE_MODULES = frozenset({"tests/e2e/test_dashboard_browser.py", "tests/e2e/test_abra_driver.py"})


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's `load` distribution as scripts/test asks for it (one test at a time to whichever
    worker is free), except that each of WHOLE_MODULES goes to one worker as a unit."""
    if config.getoption("dist") != "load":
        return None  # another --dist asked for: xdist's own
    from xdist.scheduler import LoadScopeScheduling

    class OneAtATime(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in WHOLE_MODULES else nodeid

        def _reschedule(self, node: Any) -> None:
            if node.shutting_down:
                return
            if not self.workqueue:
                node.shutdown()
                return
            # a worker runs a test once it knows the one after it (its teardown depends on it): the
            # running one and the next, as `load` keeps with --maxschedchunk 1, never a longer queue
            if self._pending_of(self.assigned_work[node]) < 2:
                self._assign_work_unit(node)

    return OneAtATime(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`alone` tests are handed out after every other e2e test (the unit tests follow them): while
    one waits for the runs in flight to end, the other workers go on with unit tests rather than
    queue behind it, idle. Every worker orders its collection the same way, as xdist requires."""
    alone = [item for item in items if item.get_closest_marker("alone") is not None]
    if not alone:
        return
    rest = [item for item in items if item.get_closest_marker("alone") is None]
    after = max((n + 1 for n, item in enumerate(rest) if item.path.is_relative_to(E2E_DIR)), default=len(rest))
    items[:] = rest[:after] + alone + rest[after:]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: Sequence[str]) -> None:
    """The controller of a parallel session: called before it hands any worker a test."""
    _before_the_first_e2e_test(node.config, ids)


@pytest.hookimpl(trylast=True)  # after every worker has finished its tests and their teardowns
def pytest_sessionfinish(session: pytest.Session) -> None:
    before = session.config.stash.get(_BEFORE, None)
    if before is None:
        return
    left = sorted(set(suite_objects()) - set(before))
    if left:
        message = f"the e2e suite left objects behind: {left}"
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_sep("=", "e2e leftovers", red=True)
            reporter.write_line(message)
        else:
            print(message, file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, mode)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(autouse=True)
def _swarm_share(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Under xdist, every e2e test holds a shared lock and an `alone` test an exclusive one (and a
    `one_at_a_time` test its name's lock too). The
    turnstile lets an `alone` test in once the tests in flight end (new ones queue behind it): a
    plain flock would let readers that keep overlapping hold it off for ever."""
    if not _is_worker(request.config):
        yield  # one process: nothing runs beside this test
        return
    session_tmp = tmp_path_factory.getbasetemp().parent  # the workers' own are popen-gw<N> inside it
    turnstile, share = session_tmp / "e2e.turnstile", session_tmp / "e2e.share"
    if request.node.get_closest_marker("alone") is not None:
        with _flock(turnstile, fcntl.LOCK_EX), _flock(share, fcntl.LOCK_EX):
            yield
        return
    with _flock(turnstile, fcntl.LOCK_EX):
        pass
    group = request.node.get_closest_marker("one_at_a_time")
    with _flock(share, fcntl.LOCK_SH):
        if group is None:
            yield
            return
        with _flock(session_tmp / f"e2e.one-at-a-time.{group.args[0]}", fcntl.LOCK_EX):
            yield


@pytest.fixture
def run_ci(tmp_path: Path) -> Callable[..., RunOutcome]:
    """Run `python -m runner.run_recipe_ci` with the given env vars, as an operator would."""
    def run(timeout: float = 600, cwd: Path = REPO_ROOT, **env: str) -> RunOutcome:
        runs_dir = tmp_path / "runs"
        full_env = {k: v for k, v in os.environ.items() if k not in ("RECIPE", "REF", "PR", "STAGES", "VERSION")}
        full_env |= {"CCCI_RUNS_DIR": str(runs_dir), "CCCI_DOMAIN_BASE": SUITE_DOMAIN_BASE, **env}
        done = subprocess.run([sys.executable, "-m", "runner.run_recipe_ci"], cwd=cwd,
                              env=full_env, capture_output=True, text=True, timeout=timeout)
        return RunOutcome(done.returncode, done.stdout, done.stderr, runs_dir)
    return run


@pytest.fixture
def recipe_variant(tmp_path: Path) -> Callable[[Callable[[Path], None], str], Path]:
    """A clone of the bundled example with one more commit made by `change(repo)`."""
    def make(change: Callable[[Path], None], message: str) -> Path:
        repo = tmp_path / "custom-html-tiny"
        git.git(None, "clone", "-q", str(bundled_recipe_repo("custom-html-tiny")), str(repo))
        change(repo)
        git.git(repo, "commit", "-q", "-am", message)
        return repo
    return make
