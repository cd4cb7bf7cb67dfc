"""The catalogue's flaky rule and its fleet, for real: a recipe whose install fails on its first
attempt and passes on the second ends `flaky`, never `pass`, both runs kept and linked; and a
catalogue over the local engine and a loopback sshd (Debian's stock settings) puts recipes on both,
then, the sshd killed once a recipe finished on it, moves the rest to the local engine."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.plumbing.paths import REPO_ROOT
from runner.run.rundir import RunDir
from tests.e2e.conftest import SUITE_DOMAIN_BASE
from tests.e2e.sshd import SSHD, Sshd, loopback_sshd
from tests.e2e.support import suite_objects

pytestmark = pytest.mark.e2e

# An install overlay that fails the first time any run collects it and passes after: the attempt is
# counted by a marker on this host, shared by the two runs, so the failure is deterministic.
FIRST_ATTEMPT_FAILS = '''\
from pathlib import Path

MARKER = Path({marker!r})


def test_the_first_attempt_fails_on_purpose():
    first = not MARKER.exists()
    MARKER.write_text("attempted\\n")
    assert not first, "the first attempt fails on purpose"
'''


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RECIPE", "REF", "PR", "STAGES", "VERSION",
                                                            "CCCI_DOCKER_HOST")}
    return env | {"CCCI_RUNS_DIR": str(tmp_path / "runs"), "CCCI_DOMAIN_BASE": SUITE_DOMAIN_BASE, **extra}


def _catalogue(tmp_path: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "runner.cli", "catalogue", *args, "--history", str(tmp_path / "catalogue.sqlite")]


def _rows(stdout: str, recipes: list[str]) -> dict[str, list[str]]:
    """recipe -> its matrix cells (commit, level, verdict, change…, target)."""
    return {cells[0]: cells[1:] for line in stdout.splitlines() if (cells := line.split()) and cells[0] in recipes}


def _stacks(runs: Path) -> list[str]:
    return [json.loads(RunDir(d).results.read_text())["stack"] for d in runs.iterdir() if RunDir(d).results.exists()]


def test_a_recipe_that_fails_its_first_attempt_ends_flaky_with_both_runs_linked(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "test_install.py").write_text(FIRST_ATTEMPT_FAILS.format(marker=str(tmp_path / "attempted")))
    path = tmp_path / "catalogue.yml"
    path.write_text("stages: install\nrecipes:\n  - name: custom-html-tiny\n")

    done = subprocess.run(_catalogue(tmp_path, "run", str(path)), cwd=REPO_ROOT, capture_output=True, text=True,
                          env=_env(tmp_path, CCCI_OVERLAY_DIR=str(overlay)), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr  # flaky is not a regression (docs/catalogue.md)
    commit, level, verdict, change, target = _rows(done.stdout, ["custom-html-tiny"])["custom-html-tiny"]
    assert (level, verdict, change, target) == ("L1", "flaky", "flaky", "local"), done.stdout
    # both runs kept, the first failed at its install tier, the retry from scratch (a new app) passed
    by_id = {d.name: json.loads(RunDir(d).results.read_text()) for d in (tmp_path / "runs").iterdir()
             if RunDir(d).results.exists()}
    assert len(by_id) == 2, done.stdout + done.stderr
    (first_id,) = [run_id for run_id, r in by_id.items() if r["verdict"] == "fail"]
    (retry_id,) = [run_id for run_id, r in by_id.items() if r["verdict"] == "pass"]
    assert by_id[first_id]["stack"] != by_id[retry_id]["stack"]
    assert f"custom-html-tiny: run {first_id} failed, retried from scratch as {retry_id}: pass" in done.stdout
    history = subprocess.run(_catalogue(tmp_path, "history", "custom-html-tiny"), cwd=REPO_ROOT, env=_env(tmp_path),
                             capture_output=True, text=True, timeout=60)
    assert history.returncode == 0, history.stderr
    (line,) = history.stdout.splitlines()
    assert line.split()[5:] == ["L1", "flaky", "flaky", first_id, "(retry", f"{retry_id}:", "pass)"], line
    assert [o for o in suite_objects() if any(r["stack"] in o for r in by_id.values())] == []


@pytest.fixture
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    with loopback_sshd(tmp_path_factory.mktemp("catalogue-sshd")) as running:
        yield running


def _wait_for_line(path: Path, pattern: str, process: subprocess.Popen[str], timeout_s: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in path.read_text().splitlines() if path.exists() else []:
            if found := re.search(pattern, line):
                return found
        assert process.poll() is None, f"it ended before {pattern!r}: {path.read_text()[-3000:]}"
        time.sleep(0.05)
    raise AssertionError(f"no {pattern!r} within {timeout_s}s: {path.read_text()[-3000:]}")


# The first recipe goes to the local engine (listed first, both targets empty), the second to the
# sshd, the third waits. An install overlay holds each local run until the test lets it go, so the
# local engine is still busy when the sshd's recipe is done: the third recipe is sent to the sshd,
# which is killed by then, whatever the two engines' speeds.
FLEET = ["hops-tiny", "custom-html-tiny", "notes-tiny"]
HELD_ON_LOCAL = '''\
import json
import time
from pathlib import Path

GO = Path({go!r})


def test_a_local_run_waits_for_the_go(run_description):
    if "ssh://" in json.dumps(run_description):
        return
    deadline = time.monotonic() + 120
    while not GO.exists():
        assert time.monotonic() < deadline, "no go within 120 s"
        time.sleep(0.2)
'''


@pytest.mark.skipif(not SSHD.exists(), reason="no /usr/sbin/sshd (scripts/bootstrap installs openssh-server)")
def test_a_catalogue_over_local_and_an_sshd_uses_both_and_moves_the_rest_when_the_sshd_is_killed(
    sshd: Sshd, tmp_path: Path
) -> None:
    path = tmp_path / "catalogue.yml"
    path.write_text("stages: install\n"
                    f'targets: [{{target: local, limit: 1}}, {{target: "{sshd.url}", limit: 1}}]\n'
                    "recipes:\n" + "".join(f"  - name: {name}\n" for name in FLEET))
    overlay, go = tmp_path / "overlay", tmp_path / "go"
    overlay.mkdir()
    (overlay / "test_install.py").write_text(HELD_ON_LOCAL.format(go=str(go)))
    progress = tmp_path / "progress.log"
    env = _env(tmp_path, CCCI_SSH_KEY=str(sshd.key), CCCI_SSH_KNOWN_HOSTS=str(sshd.known_hosts),
               CCCI_OVERLAY_DIR=str(overlay))
    with progress.open("w") as err, (tmp_path / "matrix.txt").open("w") as out:
        run = subprocess.Popen(_catalogue(tmp_path, "run", str(path), "--jobs", "2", "--no-retry"), cwd=REPO_ROOT,
                               env=env, stdout=out, stderr=err, text=True)
    try:
        _wait_for_line(progress, rf"^catalogue: custom-html-tiny: running on {re.escape(sshd.url)}$", run, 60)
        _wait_for_line(progress, r"^catalogue: custom-html-tiny: pass L1 new$", run, 120)
        assert sshd.kill()  # the moment a recipe finished on it: the next one sent there is refused
        _wait_for_line(progress, rf"^catalogue: target {re.escape(sshd.url)} went down", run, 60)
        go.write_text("go\n")
        returncode = run.wait(timeout=240)
    finally:
        go.write_text("go\n")
        if run.poll() is None:
            run.kill()
    said, matrix = progress.read_text(), (tmp_path / "matrix.txt").read_text()
    assert returncode == 0, said[-3000:] + matrix
    rows = _rows(matrix, FLEET)
    assert set(rows) == set(FLEET), matrix
    assert all(cells[1:4] == ["L1", "pass", "new"] for cells in rows.values()), matrix
    # the matrix's target column: a recipe on each target; the one sent to the killed sshd moved here
    assert [rows[name][4] for name in FLEET] == ["local", sshd.url, "local"], matrix
    assert f"target {sshd.url} went down; the recipes left run on local" in matrix
    assert f"notes-tiny: target {sshd.url} went down; ran on local instead" in matrix
    assert said.splitlines()[:5] == [
        "catalogue: hops-tiny: running on local", f"catalogue: custom-html-tiny: running on {sshd.url}",
        "catalogue: custom-html-tiny: pass L1 new", f"catalogue: notes-tiny: running on {sshd.url}",
        f"catalogue: target {sshd.url} went down; the recipes left run on local"], said
    status = subprocess.run(_catalogue(tmp_path, "status", "--json"), cwd=REPO_ROOT, env=_env(tmp_path),
                            capture_output=True, text=True, timeout=60)
    latest = {r["recipe"]: (r["target"], r["moved_from"]) for r in json.loads(status.stdout)["rows"]}
    assert latest == {"hops-tiny": ("local", None), "custom-html-tiny": (sshd.url, None),
                      "notes-tiny": ("local", sshd.url)}
    stacks = _stacks(tmp_path / "runs")
    assert len(stacks) == len(FLEET)  # the refused run deployed nothing and wrote no results
    assert [o for o in suite_objects() if any(stack in o for stack in stacks)] == []
