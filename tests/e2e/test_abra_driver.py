"""The abra driver on the local swarm, with the stand-in `abra` (tests/fixtures/abra/abra) on PATH:
the whole lifecycle through abra commands, and two runs of one recipe at once, each with its own
ABRA_DIR. What the stand-in copies of abra, and how sure that is: docs/abra.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner.harness.paths import REPO_ROOT
from tests.e2e.conftest import SUITE_DOMAIN_BASE
from tests.e2e.support import RunOutcome, suite_objects

pytestmark = pytest.mark.e2e

STAND_IN_DIR = REPO_ROOT / "tests" / "fixtures" / "abra"
ALL = "install,upgrade,backup,restore,custom"


def _abra_env(tmp_path: Path) -> dict[str, str]:
    return {"CCCI_DRIVER": "abra", "PATH": f"{STAND_IN_DIR}:{os.environ['PATH']}",
            "ABRA_STANDIN_RECORD": str(tmp_path / "abra-calls.jsonl"),
            "ABRA_STANDIN_SECRETS": str(tmp_path / "abra-secrets.txt"), "CCCI_PICTURES": "0"}


def _calls(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "abra-calls.jsonl").read_text().splitlines()]


def _files_holding(root: Path, value: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and value.encode() in p.read_bytes()]


def test_the_abra_driver_climbs_all_five_stages_through_abra_commands(
    run_ci: Callable[..., RunOutcome], tmp_path: Path
) -> None:
    outcome = run_ci(RECIPE="custom-html-tiny", STAGES=ALL, **_abra_env(tmp_path))
    assert outcome.returncode == 0, outcome.stderr
    results = outcome.results
    assert [(t["op"], t["verdict"]) for t in results["tiers"] if t["op"] in ALL.split(",")] == \
        [(op, "pass") for op in ALL.split(",")]
    assert results["deploy_count"] == 1
    install, upgrade = results["deployments"]
    assert (install["version"], install["chaos"]) == ("1.0.0+1.0", False)
    assert upgrade["chaos"] and upgrade["labels"][f"coop-cloud.{results['stack']}.chaos-version"] == \
        results["head_commit"][:8]

    run_dir, domain = outcome.run_dirs[0], results["domain"]
    calls = _calls(tmp_path)
    assert all(call["tty"] for call in calls)  # every call had its terminal
    assert {call["env"]["ABRA_DIR"] for call in calls} == {str(run_dir / "abra")}
    commands = [" ".join(call["argv"]) for call in calls]
    assert commands == [
        f"app new custom-html-tiny --no-input --offline --chaos --server default --domain {domain} --secrets",
        f"app deploy --no-input --offline --no-domain-checks {domain} 1.0.0+1.0",
        f"app deploy --no-input --offline --no-domain-checks --force --chaos {domain}",
        f"app undeploy --no-input --offline {domain}",
    ]
    assert (run_dir / "abra" / "recipes" / "custom-html-tiny").resolve() == (run_dir / "recipe").resolve()
    assert (run_dir / "abra" / "servers" / "default" / f"{domain}.env").is_file()
    # the value abra generated (and printed) is nowhere in what the run kept or said
    (secret,) = (tmp_path / "abra-secrets.txt").read_text().split()
    assert _files_holding(run_dir, secret) == [] and secret not in outcome.stdout + outcome.stderr
    assert results["teardown_leftovers"] == []
    assert [o for o in suite_objects() if results["stack"] in o] == []


def test_two_abra_runs_of_one_recipe_at_once_use_their_own_abra_dirs_and_both_pass(tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        env = {k: v for k, v in os.environ.items() if k not in ("RECIPE", "REF", "PR", "STAGES", "VERSION")}
        env |= _abra_env(tmp_path / name) | {"RECIPE": "custom-html-tiny", "STAGES": "install",
                                             "CCCI_RUNS_DIR": str(tmp_path / name / "runs"),
                                             "CCCI_DOMAIN_BASE": SUITE_DOMAIN_BASE}
        runs.append(subprocess.Popen([sys.executable, "-m", "runner.run_recipe_ci"], cwd=REPO_ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [run.communicate(timeout=600) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs[0][1][-2000:] + outputs[1][1][-2000:]
    abra_dirs = []
    for name in ("a", "b"):
        (run_dir,) = (tmp_path / name / "runs").iterdir()
        calls = _calls(tmp_path / name)
        assert {call["env"]["ABRA_DIR"] for call in calls} == {str(run_dir / "abra")}
        assert (run_dir / "abra" / "recipes" / "custom-html-tiny").resolve() == (run_dir / "recipe").resolve()
        abra_dirs.append(run_dir / "abra")
        assert json.loads((run_dir / "results.json").read_text())["teardown_leftovers"] == []
    assert abra_dirs[0] != abra_dirs[1]
