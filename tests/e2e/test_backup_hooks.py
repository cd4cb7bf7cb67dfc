"""Backup hooks on the real swarm run as backup-bot-two runs them (`bash -c 'set -o pipefail;…'`):
a hook with a redirect, a pipe and `$(cat /run/secrets/…)` makes its dump, and a container
without bash fails the backup tier, saying production would back up without the dump."""

from __future__ import annotations

import gzip
import json
import re
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.support import RunOutcome, suite_objects, tier

pytestmark = pytest.mark.e2e

# what a database recipe's hook looks like: the dump command reads its password from a secret
SHELL_HOOKS = [
    "backupbot.backup.pre-hook=echo user=admin pass=$$(cat /run/secrets/admin_password) | gzip > /srv/www/dump.sql.gz",
    "backupbot.backup.post-hook=rm -f /srv/www/dump.sql.gz",
]


def _hooks(labels: list[str]) -> Callable[[Path], None]:
    """A change for `recipe_variant`: these hook labels on `app`, in place of the example's."""
    def change(repo: Path) -> None:
        compose = repo / "compose.yml"
        keys = {label.split("=", 1)[0] for label in labels}
        kept = [line for line in compose.read_text().splitlines(keepends=True)
                if line.strip().removeprefix('- "').split("=", 1)[0] not in keys]
        anchor = '        - "backupbot.backup.path=/srv/www"\n'
        text = "".join(kept).replace(anchor, anchor + "".join(f'        - "{label}"\n' for label in labels))
        compose.write_text(text)
    return change


def _overlays(tmp_path: Path, ops_py: str = "") -> str:
    """An overlay dir of the test's own: no assertion files of the example (the generic floor
    only), and `ops.py` when given."""
    overlays = tmp_path / "overlays"
    overlays.mkdir(exist_ok=True)
    if ops_py:
        (overlays / "ops.py").write_text(ops_py)
    return str(overlays)


def _left_behind(outcome: RunOutcome) -> list[str]:
    return outcome.results["teardown_leftovers"] + [o for o in suite_objects() if outcome.results["stack"] in o]


def test_a_hook_with_a_redirect_a_pipe_and_a_secret_makes_its_dump_in_the_snapshot(
    run_ci: Callable[..., RunOutcome], recipe_variant: Callable[..., Path], tmp_path: Path
) -> None:
    repo = recipe_variant(_hooks(SHELL_HOOKS), "a database-style dump hook")
    outcome = run_ci(RECIPE=str(repo), STAGES="backup", CCCI_OVERLAY_DIR=_overlays(tmp_path))
    assert outcome.returncode == 0, outcome.stdout[-3000:] + outcome.stderr[-3000:]
    assert tier(outcome.results, "backup")["verdict"] == "pass"

    (run_dir,) = outcome.run_dirs
    snapshot = json.loads((run_dir / "op_state.json").read_text())["ops"]["backup"]["snapshot"]
    dump_path = f"var/lib/docker/volumes/{outcome.results['stack']}_content/_data/dump.sql.gz"
    with tarfile.open(snapshot["export"], "r:gz") as tar:
        assert dump_path in tar.getnames(), "the hook made no dump, so the snapshot has none"
        member = tar.extractfile(dump_path)
        assert member is not None
        dump = gzip.decompress(member.read()).decode()
    found = re.fullmatch(r"user=admin pass=(\S{16,})\n", dump)
    assert found, f"the hook's $(cat /run/secrets/…) was not expanded: {dump!r}"
    password = found[1]
    # the secret went into the dump, and nowhere the run reports
    reported = outcome.stdout + outcome.stderr + (run_dir / "results.json").read_text()
    assert password not in reported
    assert _left_behind(outcome) == []


NO_BASH = '''
def pre_backup(ctx):
    """The example's container as an image without bash would be."""
    ctx.exec_in("app", ["rm", "-f", "/bin/bash"])
'''


def test_a_container_without_bash_fails_the_backup_saying_production_would_lose_the_dump(
    run_ci: Callable[..., RunOutcome], tmp_path: Path
) -> None:
    outcome = run_ci(RECIPE="custom-html-tiny", STAGES="backup", CCCI_OVERLAY_DIR=_overlays(tmp_path, NO_BASH))
    assert outcome.returncode == 3, outcome.stdout[-3000:] + outcome.stderr[-3000:]
    backup = tier(outcome.results, "backup")
    assert backup["verdict"] == "error"
    assert "backupbot.backup.pre-hook on app cannot run: the image has no bash" in backup["error"]
    assert "silently missing" in backup["error"]
    assert _left_behind(outcome) == []
