"""The bundled real-shaped recipe, notes-tiny, through all five stages on the local swarm: an app
behind a login that reaches its database by service name, a database writing into its volume
every second, a worker without healthcheck, shell-syntax backup hooks, a labelled folder a fresh
install has not created, and a PR head that adds a secret."""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.drivers.swarm.substrate import service_vips
from tests.e2e.support import RunOutcome, asked, suite_objects

pytestmark = pytest.mark.e2e

ALL = "lint,install,upgrade,backup,restore,custom"  # lint: only R002's warning (the worker)
# the backup pre-hook: `echo "dump of $(cat /run/secrets/db_password | wc -c)…" | tee …/dump.sql > /dev/null`
DUMP = b"dump of 32-byte-password database\n"


def test_the_real_shaped_recipe_climbs_all_five_stages(run_ci: Callable[..., RunOutcome]) -> None:
    outcome = run_ci(RECIPE="notes-tiny", STAGES=ALL)
    results = outcome.results
    assert outcome.returncode == 0, outcome.stderr
    assert [(t["op"], t["verdict"]) for t in asked(results)] == [(op, "pass") for op in ALL.split(",")]
    assert results["level"] == 5 and results["deploy_count"] == 1
    assert results["teardown_leftovers"] == [] and results["teardown_clean"] is True
    assert [o for o in suite_objects() if results["stack"] in o] == []

    # without IPVS the app reaches `db` only because every service was deployed with dnsrr, and says so
    overrides = [o for d in results["deployments"] for o in d["overrides"]]
    if service_vips().work:
        assert overrides == []
    else:
        assert [d["op"] for d in results["deployments"]] == ["install", "upgrade"]
        assert all(o.startswith("endpoint_mode dnsrr for app, db, worker: ") for o in overrides), overrides
        assert len(overrides) == 2 and "no IPVS" in overrides[0]
        assert "no IPVS" in outcome.stderr and "deploying every service with endpoint_mode dnsrr" in outcome.stderr
        assert "deploy override: endpoint_mode dnsrr" in (Path(results["run_dir"]) / "summary.md").read_text()

    # the hook's pipeline ran under a shell: its dump is in the snapshot's export
    assert _from_export(results, "data", "dump.sql") == DUMP


def _from_export(results: dict[str, object], volume: str, path: str) -> bytes:
    """A file of the backup's .tar.gz export, laid out as backup-bot-two's."""
    (export,) = (Path(str(results["run_dir"])) / "backups").glob("*.tar.gz")
    member = f"var/lib/docker/volumes/{results['stack']}_{volume}/_data/{path}"
    with tarfile.open(export) as tar:
        names = {name.lstrip("/"): name for name in tar.getnames()}
        assert member in names, f"{member} is not in the snapshot: {sorted(names)[:20]}"
        handle = tar.extractfile(names[member])
        assert handle is not None
        return handle.read()
