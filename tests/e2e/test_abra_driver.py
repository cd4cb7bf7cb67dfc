"""The abra driver on the local swarm, with the stand-in `abra` (tests/fixtures/abra/abra) on PATH:
the whole lifecycle through abra commands, and two runs of one recipe at once, each with its own
ABRA_DIR; where the server runs backup-bot-two (a stand-in service), backup and restore through it. What the stand-in copies of abra, and how sure that is: docs/abra.md."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast
from xml.etree import ElementTree

import pytest

from runner.drivers.abra.backupbot import BOT_LABEL
from runner.plumbing.paths import REPO_ROOT
from runner.run.opstate import WITNESS_PREFIX
from runner.swarm.volumes import HELPER_IMAGE
from tests.e2e.conftest import SUITE_DOMAIN_BASE
from tests.e2e.support import RunOutcome, suite_objects, tier

pytestmark = pytest.mark.e2e

# One test that backs up at a time: while `backup_bot` stands on the swarm, an abra run beside it
# backs up through that bot (abra finds it by its label, swarm-wide), not with its own commands. A
# run that never backs up (install, idempotent) never looks for a bot, so it needs no turn.
BACKS_UP = pytest.mark.one_at_a_time("abra-backup-bot")

STAND_IN_DIR = REPO_ROOT / "tests" / "fixtures" / "abra"
ALL = "install,upgrade,backup,restore,custom"


def _abra_env(tmp_path: Path) -> dict[str, str]:
    return {"CCCI_DRIVER": "abra", "PATH": f"{STAND_IN_DIR}:{os.environ['PATH']}",
            "ABRA_STANDIN_RECORD": str(tmp_path / "abra-calls.jsonl"),
            "ABRA_STANDIN_SECRETS": str(tmp_path / "abra-secrets.txt"), "CCCI_PICTURES": "0"}


def _calls(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "abra-calls.jsonl").read_text().splitlines()]


def _passed_all_five(outcome: RunOutcome) -> dict[str, Any]:
    """The run's results, once it passed and every one of the five stages passed."""
    assert outcome.returncode == 0, outcome.stderr
    results = outcome.results
    assert [(t["op"], t["verdict"]) for t in results["tiers"] if t["op"] in ALL.split(",")] == \
        [(op, "pass") for op in ALL.split(",")]
    return results


def _files_holding(root: Path, value: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and value.encode() in p.read_bytes()]


def test_two_abra_runs_of_one_recipe_at_once_use_their_own_abra_dirs_and_both_pass(tmp_path: Path) -> None:
    """Run `a` also checks idempotence through abra: its unchanged redeploy of the installed PR
    head (a chaos deploy) changes nothing (the swarm driver's: tests/e2e/test_install_run.py)."""
    runs = []
    for name, stages in (("a", "install,idempotent"), ("b", "install")):
        (tmp_path / name).mkdir()
        env = {k: v for k, v in os.environ.items() if k not in ("RECIPE", "REF", "PR", "STAGES", "VERSION")}
        env |= _abra_env(tmp_path / name) | {"RECIPE": "custom-html-tiny", "STAGES": stages,
                                             "CCCI_RUNS_DIR": str(tmp_path / name / "runs"),
                                             "CCCI_DOMAIN_BASE": SUITE_DOMAIN_BASE}
        runs.append(subprocess.Popen([sys.executable, "-m", "runner.run_recipe_ci"], cwd=REPO_ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [run.communicate(timeout=600) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs[0][1][-2000:] + outputs[1][1][-2000:]
    abra_dirs, results = [], []
    for name in ("a", "b"):
        (run_dir,) = [p for p in (tmp_path / name / "runs").iterdir() if p.is_dir()]  # beside it: the runs index
        calls = _calls(tmp_path / name)
        assert {call["env"]["ABRA_DIR"] for call in calls} == {str(run_dir / "abra")}
        assert (run_dir / "abra" / "recipes" / "custom-html-tiny").resolve() == (run_dir / "recipe").resolve()
        abra_dirs.append(run_dir / "abra")
        results.append(json.loads((run_dir / "results.json").read_text()))
        assert results[-1]["teardown_leftovers"] == []
    assert abra_dirs[0] != abra_dirs[1]
    # the idempotence check through abra: redeployed as installed (the PR head, chaos), nothing changed
    idempotent = results[0]
    assert tier(idempotent, "idempotent")["verdict"] == "pass"
    assert idempotent["deploy_count"] == 1 and idempotent["teardown_clean"] is True
    assert [(d["op"], d["chaos"]) for d in idempotent["deployments"]] == [("install", True), ("idempotent", True)]
    assert "redeployed in" in outputs[0][1] and "nothing changed" in outputs[0][1], outputs[0][1][-3000:]


# -- a server that runs backup-bot-two: abra backs up and restores through it --------------------

@pytest.fixture
def backup_bot(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A stand-in backup-bot-two on the swarm: a service with the label abra finds the bot by,
    naming its restic repository (on a bind mount) and password; the stand-in abra does its work.
    Yields the repository's path on this host and its password."""
    store, password = tmp_path / "bot", secrets.token_hex(16)
    store.mkdir()
    name = f"ccci-standin-backupbot-{secrets.token_hex(3)}"
    subprocess.run(["docker", "service", "create", "--quiet", "--detach=false", "--name", name,
                    "--label", f"{BOT_LABEL}=true", "--env", "RESTIC_REPOSITORY=/backups/restic",
                    "--env", f"RESTIC_PASSWORD={password}", "--mount", f"type=bind,source={store},target=/backups",
                    HELPER_IMAGE, "sleep", "3600"], check=True, capture_output=True)
    try:
        yield store / "restic", password
    finally:
        subprocess.run(["docker", "service", "rm", name], check=True, capture_output=True)


def _bot_snapshots(repository: Path, password: str) -> list[dict[str, Any]]:
    done = subprocess.run(["restic", "--no-cache", "-r", str(repository), "snapshots", "--json"], check=True,
                          capture_output=True, text=True, env={"PATH": os.environ["PATH"], "RESTIC_PASSWORD": password})
    return cast(list[dict[str, Any]], json.loads(done.stdout))


@BACKS_UP
def test_the_abra_driver_climbs_all_five_stages_through_abra_commands_backing_up_through_backup_bot_two(
    run_ci: Callable[..., RunOutcome], tmp_path: Path, backup_bot: tuple[Path, str]
) -> None:
    """One five-stage run serves both: every stage through abra's commands, and, the server
    running backup-bot-two, backup and restore through the bot. (Without a bot, backup and restore
    are the target's own, no abra command: the restore-fresh test below checks that.)"""
    outcome = run_ci(RECIPE="custom-html-tiny", STAGES=ALL, **_abra_env(tmp_path))
    results = _passed_all_five(outcome)
    assert results["deploy_count"] == 1
    install, upgrade = results["deployments"]
    assert (install["version"], install["chaos"]) == ("1.0.0+1.0", False)
    assert upgrade["chaos"] and upgrade["labels"][f"coop-cloud.{results['stack']}.chaos-version"] == \
        results["head_commit"][:8]

    run_dir, domain, stack = outcome.run_dirs[0], results["domain"], results["stack"]
    calls = _calls(tmp_path)
    assert all(call["tty"] for call in calls)  # every call had its terminal
    assert {call["env"]["ABRA_DIR"] for call in calls} == {str(run_dir / "abra")}
    ops = json.loads((run_dir / "op_state.json").read_text())["ops"]
    snapshot, restored = ops["backup"]["snapshot"], ops["restore"]["restore"]
    # the bot took it on the server: one snapshot of this app in the bot's repository, by the id kept
    (taken,) = [s for s in _bot_snapshots(*backup_bot) if stack in (s.get("tags") or [])]
    assert snapshot["bot_snapshot"] == taken["short_id"] and restored["bot_snapshot"] == taken["short_id"]
    # the run's copy of it (`download`) holds the witness the harness planted before it, and the
    # restore (the bot's) brought it back: the floors said so, and here are their figures
    assert snapshot["witnesses"] and restored["verified"] + len(restored["rewritten_by_app"]) == len(snapshot["files"])
    assert restored["mismatched"] == []
    commands = [" ".join(call["argv"]) for call in calls]
    bot_id = taken["short_id"]
    assert commands == [
        f"app new custom-html-tiny --no-input --offline --chaos --server default --domain {domain} --secrets",
        f"app deploy --no-input --offline --no-domain-checks {domain} 1.0.0+1.0",
        f"app deploy --no-input --offline --no-domain-checks --force --chaos {domain}",
        f"app backup create --no-input --offline {domain}",
        f"app backup download --no-input --offline {domain} --snapshot {bot_id}",
        f"app restore --no-input --offline {domain} --snapshot {bot_id}",
        f"app undeploy --no-input --offline {domain}",
    ]
    assert (run_dir / "abra" / "recipes" / "custom-html-tiny").resolve() == (run_dir / "recipe").resolve()
    assert (run_dir / "abra" / "servers" / "default" / f"{domain}.env").is_file()
    assert not (run_dir / "abra" / "backup.tar.gz").exists()  # the download may hold the app's secrets
    # the value abra generated (and printed) is nowhere in what the run kept or said
    (secret,) = (tmp_path / "abra-secrets.txt").read_text().split()
    assert _files_holding(run_dir, secret) == [] and secret not in outcome.stdout + outcome.stderr
    # the hooks ran once, the bot's: cc-ci ran none of its own around the bot's backup
    assert "backupbot.backup.pre-hook on" in (run_dir / "logs" / "abra.log").read_text()
    assert "backupbot.backup.pre-hook in app" not in outcome.stdout + outcome.stderr
    assert results["teardown_leftovers"] == []
    assert [o for o in suite_objects() if stack in o] == []


@BACKS_UP
@pytest.mark.parametrize(("fault", "stages", "op", "expected"), [
    ({"ABRA_STANDIN_BOT_DROP": f"{WITNESS_PREFIX}*"}, "backup", "backup", "not in the snapshot as planted"),
    ({"ABRA_STANDIN_BOT_RESTORE": "nothing"}, "restore", "restore", "not back as the snapshot took them"),
], ids=["bot-loses-a-file", "bot-restores-nothing"])
def test_a_backup_bot_that_loses_data_fails_the_tier_that_checks_it(
    run_ci: Callable[..., RunOutcome], tmp_path: Path, backup_bot: tuple[Path, str],
    fault: dict[str, str], stages: str, op: str, expected: str
) -> None:
    outcome = run_ci(RECIPE="custom-html-tiny", STAGES=stages, **_abra_env(tmp_path), **fault)
    assert outcome.returncode == 1, outcome.stderr
    assert tier(outcome.results, op)["verdict"] == "fail"
    junit = ElementTree.parse(outcome.run_dirs[0] / f"junit-{op}.xml")
    failures = [f"{case.get('name')}: {failure.get('message')}" for case in junit.iter("testcase")
                for failure in case.iter("failure")]
    assert any(expected in failure for failure in failures), failures
    assert outcome.results["teardown_leftovers"] == []


@BACKS_UP
def test_restore_onto_a_fresh_app_inserts_the_original_apps_secret_values_through_abra(
    run_ci: Callable[..., RunOutcome], tmp_path: Path
) -> None:
    env = _abra_env(tmp_path) | {"ABRA_STANDIN_INSERTED": str(tmp_path / "inserted.txt")}
    outcome = run_ci(RECIPE="custom-html-tiny", STAGES="restore-fresh", **env)
    assert outcome.returncode == 0, outcome.stderr
    results = outcome.results
    assert tier(results, "restore-fresh")["verdict"] == "pass" and results["apps"] == 2
    (run_dir,) = outcome.run_dirs
    fresh = json.loads((run_dir / "apps" / "fresh" / "app.json").read_text())["domain"]
    commands = [" ".join(call["argv"]) for call in _calls(tmp_path)]
    inserts = [c for c in commands if c.startswith("app secret insert")]
    # the value goes in through a file, never on abra's command line
    assert [c.rsplit(" ", 1)[0] for c in inserts] == \
        [f"app secret insert --no-input --offline --file {fresh} admin_password v1"], commands
    # no backup-bot-two on the server: the run backed up and restored with the target's own
    # commands, none through abra
    assert [c for c in commands if c.startswith(("app backup", "app restore"))] == [], commands
    assert f"app new custom-html-tiny --no-input --offline --chaos --server default --domain {fresh}" in commands
    # the original's value, generated once by abra, went into the fresh app; nothing generated anew
    (generated,) = (tmp_path / "abra-secrets.txt").read_text().split()
    assert (tmp_path / "inserted.txt").read_text().split() == [generated]
    assert _files_holding(run_dir, generated) == [] and generated not in outcome.stdout + outcome.stderr
    assert not list(Path(tempfile.gettempdir()).glob("ccci-secret-*"))
    assert results["teardown_leftovers"] == []
