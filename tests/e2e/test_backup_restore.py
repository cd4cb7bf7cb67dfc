"""Backup and restore on the real swarm, with backup-bot-two's labels and hooks: exclusions and
path limits honoured, hooks in order around the copy, a failing hook fails the op, restore gives
back identical files, and nothing is left behind — not even a helper container."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

from runner.plumbing.paths import REPO_ROOT
from runner.swarm.stack import STACK_LABEL, remove_stack
from runner.swarm.volumes import helper_container
from runner.targets.local import connect as docker_client
from tests.e2e.support import RunOutcome, suite_objects, tier

pytestmark = pytest.mark.e2e

VOLUME_LABELS = [
    "backupbot.backup.volumes.logs=false",
    "backupbot.backup.volumes.data.path=keep,dump.txt",
]
# /proof is a bind mount of a host dir: what the hooks leave there outlives the run's teardown
HOOKS = [
    "backupbot.backup.pre-hook=sh -c 'echo backup-pre >> /proof/order && mkdir -p /data/keep /data/skip"
    " && echo kept > /data/keep/a && echo skipped > /data/skip/b && ls -lR /srv/www > /data/dump.txt"
    " && echo log > /var/log/app/x.log && echo pre > /srv/www/pre-hook.txt'",
    "backupbot.backup.post-hook=sh -c 'echo backup-post >> /proof/order && echo post > /srv/www/post-hook.txt'",
    # a change after the backup that the restore must undo
    "backupbot.restore.pre-hook=sh -c 'echo restore-pre >> /proof/order && echo clobbered > /srv/www/index.html"
    " && rm -f /data/keep/a /srv/www/pre-hook.txt'",
    # records what it sees and never fails: a restore that wrote nothing back must fail the
    # restore tier's assertions, not this hook
    "backupbot.restore.post-hook=sh -c 'echo restore-post >> /proof/order"
    " && cat /srv/www/index.html /data/keep/a > /proof/restored 2>&1; true'",
]


def _with_labels(proof: Path, labels: list[str], volumes: bool = True) -> Callable[[Path], None]:
    """A change for `recipe_variant`: more labels on `app` and, with `volumes`, two more volumes
    (`data`, `logs`) and the /proof bind mount."""
    def change(repo: Path) -> None:
        compose = repo / "compose.yml"
        keys = {label.split("=", 1)[0] for label in labels}
        # the example's own labels of the same keys (its backup hooks) give way to these
        text = "".join(line for line in compose.read_text().splitlines(keepends=True)
                       if line.strip().removeprefix('- "').split("=", 1)[0] not in keys)
        added = "".join(f'        - "{label}"\n' for label in labels)
        text = text.replace('        - "backupbot.backup.path=/srv/www"\n',
                            '        - "backupbot.backup.path=/srv/www"\n' + added)
        if volumes:
            text = text.replace("      - content:/srv/www\n",
                                f"      - content:/srv/www\n      - data:/data\n      - logs:/var/log/app\n"
                                f"      - {proof}:/proof\n")
            text = text.replace("volumes:\n  content:\n", "volumes:\n  content:\n  data:\n  logs:\n")
        compose.write_text(text)
    return change


def _generic_only(tmp_path: Path) -> str:
    """An empty overlay dir: these variants have hooks of their own, so the example's overlays
    (which check the example's hooks) do not apply; the generic floor does."""
    overlays = tmp_path / "no-overlays"
    overlays.mkdir(exist_ok=True)
    return str(overlays)


def _op_state(outcome: RunOutcome) -> dict[str, Any]:
    (run_dir,) = outcome.run_dirs
    return cast(dict[str, Any], json.loads((run_dir / "op_state.json").read_text()))


def _assert_nothing_left(outcome: RunOutcome) -> None:
    results = outcome.results
    assert results["teardown_leftovers"] == []
    assert [o for o in suite_objects() if results["stack"] in o] == []


def test_labels_decide_what_is_taken_hooks_run_in_order_and_restore_gives_back_identical_files(
    run_ci: Callable[..., RunOutcome], recipe_variant: Callable[..., Path], tmp_path: Path
) -> None:
    proof = tmp_path / "proof"
    proof.mkdir()
    repo = recipe_variant(_with_labels(proof, VOLUME_LABELS + HOOKS), "back up data (limited), not logs; hooks")
    outcome = run_ci(RECIPE=str(repo), STAGES="backup,restore", CCCI_OVERLAY_DIR=_generic_only(tmp_path))
    assert outcome.returncode == 0, outcome.stderr
    assert [tier(outcome.results, op)["verdict"] for op in ("install", "backup", "restore")] == ["pass"] * 3

    snapshot = _op_state(outcome)["ops"]["backup"]["snapshot"]
    assert snapshot["volumes"] == {"content": [], "data": ["dump.txt", "keep"]}
    assert snapshot["excluded"] == ["logs"]
    files = {(f["volume"], f["path"]) for f in snapshot["files"]}
    assert {p for v, p in files if v == "data"} == {"dump.txt", "keep/a"}  # not skip/b: outside the limit
    assert ("content", "pre-hook.txt") in files, "the pre-hook ran after the copy"
    assert ("content", "post-hook.txt") not in files, "the post-hook ran before the copy"
    assert (proof / "order").read_text().split() == ["backup-pre", "backup-post", "restore-pre", "restore-post"]

    # by the restore post-hook, the restore pre-hook's changes were undone
    restored = (proof / "restored").read_text()
    assert "clobbered" not in restored and restored.startswith("<!doctype html>") and restored.endswith("kept\n")

    stack = outcome.results["stack"]
    with tarfile.open(snapshot["export"], "r:gz") as tar:
        names = {m.name for m in tar if m.isreg()}
    assert f"var/lib/docker/volumes/{stack}_data/_data/keep/a" in names
    assert f"var/lib/docker/volumes/{stack}_content/_data/index.html" in names
    assert not [n for n in names if f"{stack}_logs" in n or n.endswith("skip/b")]
    _assert_nothing_left(outcome)


def test_a_failing_backup_hook_fails_the_op_with_its_output_and_skips_the_later_tiers(
    run_ci: Callable[..., RunOutcome], recipe_variant: Callable[..., Path], tmp_path: Path
) -> None:
    failing = ["backupbot.backup.pre-hook=sh -c 'echo pg_dump: disk full >&2; exit 7'"]
    repo = recipe_variant(_with_labels(tmp_path, failing, volumes=False), "a pre-hook that fails")
    outcome = run_ci(RECIPE=str(repo), STAGES="backup,restore,custom", CCCI_OVERLAY_DIR=_generic_only(tmp_path))
    assert outcome.returncode == 3, outcome.stderr
    results = outcome.results
    backup = tier(results, "backup")
    assert backup["verdict"] == "error"
    assert "backupbot.backup.pre-hook on app failed" in backup["error"]
    assert "exited 7" in backup["error"] and "pg_dump: disk full" in backup["error"]
    for op in ("restore", "custom"):
        assert (tier(results, op)["verdict"], tier(results, op)["error"]) == ("skip", "after backup failed")
    assert "backup" not in _op_state(outcome)["ops"], "a failed backup recorded a snapshot"
    _assert_nothing_left(outcome)


def test_sigterm_during_a_backup_tears_everything_down(
    recipe_variant: Callable[..., Path], tmp_path: Path
) -> None:
    slow = ["backupbot.backup.pre-hook=sh -c 'touch /proof/hook-started; sleep 60'"]
    proof = tmp_path / "proof"
    proof.mkdir()
    repo = recipe_variant(_with_labels(proof, slow), "a slow pre-hook")
    runs = tmp_path / "runs"
    env = {**_clean_env(), "RECIPE": str(repo), "STAGES": "backup", "CCCI_RUNS_DIR": str(runs),
           "CCCI_OVERLAY_DIR": _generic_only(tmp_path),
           "CCCI_DOMAIN_BASE": "ccci.test"}
    proc = subprocess.Popen([sys.executable, "-m", "runner.run_recipe_ci"], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if "backupbot.backup.pre-hook in app" in line:
            break
    else:
        pytest.fail(f"the run ended before its backup hook (exit {proc.wait()})")
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=0.5)  # let the hook's exec start in the container
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=180)
    assert proc.returncode == 3
    assert (proof / "hook-started").exists(), "the signal came before the backup was under way"
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]  # beside it: the runs index
    results = json.loads((run_dir / "results.json").read_text())
    assert "interrupted by SIGTERM" in results["error"]
    assert tier(results, "backup")["verdict"] == "error"
    assert "teardown left nothing behind" in rest
    assert results["teardown_leftovers"] == []
    assert [o for o in suite_objects() if results["stack"] in o] == []


def test_the_helper_container_goes_when_its_block_fails_and_teardown_reclaims_an_abandoned_one() -> None:
    client = docker_client()
    stack = "helper-check_ccci_test"
    volume = client.volumes.create(f"{stack}_content", labels={STACK_LABEL: stack})
    try:
        with pytest.raises(RuntimeError), helper_container(client, stack, [volume.name], read_only=True) as helper:
            assert helper.status in ("created", "running")
            raise RuntimeError("the copy failed")
        assert not client.containers.list(all=True, filters={"name": f"{stack}_backup-helper"})

        # a run that dies mid-backup never leaves the block: teardown (and gc) must still reach it
        abandoned = helper_container(client, stack, [volume.name], read_only=False)
        abandoned.__enter__()
        assert client.containers.list(all=True, filters={"label": f"{STACK_LABEL}={stack}"})
        assert remove_stack(client, stack) == []
    finally:
        remove_stack(client, stack)
    assert [o for o in suite_objects() if stack in o] == []


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("RECIPE", "REF", "PR", "STAGES", "VERSION")}
