"""A tier's pytest process, started ahead of time.

Starting Python, pytest and the fixtures' imports (docker, httpx, pydantic) takes ~0.8 s, three
times what the install tier's tests take. `warm_up()` starts that process while an
op waits on docker, at the lowest CPU priority while it starts; it then waits for its job on stdin, and `run()` hands it the tier's pytest
arguments and env. The tier still runs in its own process with a fresh import of its files.
A spare nobody asks for exits when its stdin closes (at the latest when the run's process ends,
however it ends).
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from runner.plumbing import timing
from runner.plumbing.paths import REPO_ROOT
from runner.plumbing.priority import threads, unnice
from runner.plumbing.proc import ExecResult

_CHILD = r"""
import os, resource
# Start up at the lowest priority, so as not to slow the op it overlaps (deploying competes for
# the CPU); only when we may raise it back for the tests (CAP_SYS_NICE or RLIMIT_NICE).
with open("/proc/self/status") as status:
    caps = next((int(line.split()[1], 16) for line in status if line.startswith("CapEff:")), 0)
niced = bool(caps >> 23 & 1 or resource.getrlimit(resource.RLIMIT_NICE)[0] >= 20)
if niced:
    os.setpriority(os.PRIO_PROCESS, 0, 19)
import gc, importlib, json, sys
import pytest, _pytest.junitxml, httpx
# what the tier folder's conftest.py imports (its fixtures' reach into the run's app and driver)
import runner.drivers, runner.run.app, runner.maintainer.meta, runner.run.opstate, runner.ops
import runner.evidence.serving, runner.run.deps, runner.targets, runner.tiers.browsertest
import runner.swarm.reach, runner.plumbing.timing
for target in runner.drivers.DRIVERS.values():
    importlib.import_module(target.split(":")[0])
runner.swarm.reach.tls_context()
httpx.Client(verify=runner.swarm.reach.tls_context()).close()  # its transport's modules (httpcore) load lazily
# Everything loaded so far lives as long as the process: out of the collector's sight, pytest's
# collections at the end (unraisableexception's cleanup) no longer walk every imported module.
if "--browser-ahead" in sys.argv[1:]:  # the tier's tests take a `page`: Chromium starts now, not in its fixture
    runner.tiers.browsertest.launch_ahead()
gc.freeze()
line = sys.stdin.readline()
if not line:
    sys.exit(0)
job = json.loads(line)
if niced:
    os.setpriority(os.PRIO_PROCESS, 0, 0)  # the run puts its browser back too (_full_priority)
os.chdir(job["cwd"])
os.environ.clear()  # the tier's environment is exactly what it is handed
os.environ.update(job["env"])
code = pytest.main(job["args"])
if job.get("waits"):  # what its fixtures waited on docker and restic, for the run's own count
    runner.plumbing.timing.report_to(job["waits"])
from runner.plumbing.fastexit import exit_now  # the tier is done once pytest returns: no teardown
exit_now(code)
"""

# what the fixtures need to reach docker and the app; nothing else of the caller's environment
# (never its tokens) reaches a tier, not even the spare's own start-up environment
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR",
                  "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY")
# A tier loads the plugins its folder's conftest.py names and no other: not whatever pytest plugins
# happen to be installed beside the harness (a dev install's hypothesis alone cost 0.14 s a tier).
ISOLATED = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
BROWSER_FIXTURES = ("page", "browser")  # runner/tiers/browsertest.py
HINT_MAX_BYTES = 1 << 20  # a test file larger is not read for the hint
BROWSER_AHEAD = "--browser-ahead"  # the spare's argument: launch Chromium while it waits


def minimal_env(environ: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in environ.items() if k in PASSED_THROUGH} | ISOLATED | dict(extra)

_spare: subprocess.Popen[str] | None = None  # for the coming tier
_after: subprocess.Popen[str] | None = None  # for the tier after it


def warm_up(browser: bool = False, then: bool | None = None) -> None:
    """Start a spare pytest process for the coming tier, unless one is waiting already; `browser`:
    its tests take a Playwright `page` (`wants_browser`), so it launches Chromium while it waits.
    `then` (the same for the tier after it, when one follows): its spare starts now too, so that
    it has this op and this tier to start up in, not only its own op (custom's takes no time)."""
    global _spare, _after
    if _spare is None or _spare.poll() is not None:
        _spare = _start(browser)
    if then is not None and (_after is None or _after.poll() is not None):
        _after = _start(then)


def discard() -> None:
    """The run is over: spares no tier took (an op failed, the rest skip) exit now, not with the process."""
    global _spare, _after
    for spare in (_spare, _after):
        if spare is not None and spare.stdin is not None:
            with contextlib.suppress(OSError):
                spare.stdin.close()  # it reads no job: it exits
    _spare = _after = None


def wants_browser(files: Sequence[Path]) -> bool:
    """Whether a tier's test files take the `page` or `browser` fixture (an argument of that name).
    Only a hint for starting the browser early: a test that gets it another way still gets one."""
    for path in files:
        try:
            if path.stat().st_size > HINT_MAX_BYTES:
                continue
            tree = ast.parse(path.read_bytes())
        # a maintainer's file may be anything (nested a hundred thousand deep); a hint never fails a
        # run: the tier reports what is wrong with the file
        except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
                    arg.arg in BROWSER_FIXTURES for arg in node.args.args + node.args.kwonlyargs):
                return True
    return False


def run(args: Sequence[str], env: Mapping[str, str], cwd: Path = REPO_ROOT) -> ExecResult:
    """`python -m pytest <args>` in `cwd` with exactly `env` as its environment, in the spare if
    there is one (the next tier's spare, if one was started, waits for the next call). What the
    process waited on docker and restic counts as this one's waiting (`timing.credit`)."""
    global _spare, _after
    proc, _spare, _after = (_spare if _spare is not None and _spare.poll() is None else _start()), _after, None
    _full_priority(proc.pid)
    handle, waits = tempfile.mkstemp(prefix="ccci-tier-waits-")
    os.close(handle)
    job = {"args": list(args), "env": dict(env), "cwd": str(cwd), "waits": waits}
    since = timing.mark()
    try:
        out, err = proc.communicate(json.dumps(job) + "\n")
    except BaseException:  # interrupted: the tier must not outlive the run
        proc.kill()
        proc.wait()
        raise
    finally:
        timing.credit(timing.read_report(Path(waits)), since)
        os.unlink(waits)
    return ExecResult(proc.returncode, out, err)


def _full_priority(pid: int) -> None:
    """The tier waits on the spare from now on: a start-up niced so as not to slow the op must not
    crawl on behind everything else on a loaded machine until it reads its job (it sets its own
    priority back only then), nor the browser it launched ahead. Where the spare could not nice
    itself, there is nothing to undo."""
    unnice(threads(pid), pid)


def _start(browser: bool = False) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", _CHILD, *([BROWSER_AHEAD] if browser else [])], cwd=REPO_ROOT,
                            env=minimal_env(os.environ, {}), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
