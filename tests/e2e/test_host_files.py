"""A PR's compose cannot make the harness host's files reach the swarm (issue 21, "refuse what
escapes"). Seen on the code before this guard: the bundled example with one more config,
`file: <a harness-host temp file>`, passed its install (exit 0) and the swarm held a config with
that file's content for the app to serve. Now the run refuses it before anything is deployed."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.targets.local import connect as docker_client
from tests.e2e.support import RunOutcome, named_for, own_domain_base, suite_objects

pytestmark = pytest.mark.e2e

TOKEN = "HARNESS-HOST-SECRET-e2e-host-files"


def _configs_holding(token: str) -> list[str]:
    client = docker_client()
    return [c.name or "" for c in client.configs.list()
            if token in base64.b64decode(c.attrs["Spec"].get("Data") or "").decode(errors="replace")]


def test_a_config_file_on_the_harness_host_never_reaches_the_swarm(
    run_ci: Callable[..., RunOutcome], recipe_variant: Callable[..., Path], tmp_path: Path
) -> None:
    host_file = tmp_path / "harness-host" / "id_ed25519"
    host_file.parent.mkdir()
    host_file.write_text(TOKEN + "\n")

    def steal(repo: Path) -> None:
        compose = repo / "compose.yml"
        compose.write_text(compose.read_text().replace(
            "        target: /etc/httpd.conf\n",
            "        target: /etc/httpd.conf\n      - source: stolen\n        target: /srv/stolen.txt\n")
            + f"  stolen:\n    name: ${{STACK_NAME}}_stolen\n    file: {host_file}\n")

    repo = recipe_variant(steal, "a config read from the harness host")
    base = own_domain_base()
    seen: list[str] = []
    done = threading.Event()

    def watch() -> None:  # the whole run long: a config created and torn down again counts too
        while not done.is_set():
            seen.extend(_configs_holding(TOKEN))
            done.wait(0.2)
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        outcome = run_ci(RECIPE=str(repo), STAGES="install", timeout=120, CCCI_DOMAIN_BASE=base)
    finally:
        done.set()
        watcher.join()
    assert seen == [] and _configs_holding(TOKEN) == []
    assert outcome.returncode == 2, outcome.stderr[-800:]
    error = outcome.stderr.splitlines()[-1]
    assert error.startswith("cc-ci: error: ") and f"compose.yml: configs.stolen.file: {host_file} is an absolute path" in error
    assert TOKEN not in outcome.stdout + outcome.stderr
    assert outcome.run_dirs == [] and named_for(base, suite_objects()) == []
