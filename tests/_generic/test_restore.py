"""The generic floor after restore: the app converged again, answers HTTP, and every file the
backup took is back in its live volume byte for byte (sha256 against the backup's manifest)."""

from __future__ import annotations

import httpx

from runner.drivers.base import Driver
from runner.harness.app import App
from runner.harness.meta import RecipeMeta
from runner.harness.opstate import OpState


def test_every_service_converged(unconverged: list[str]) -> None:
    assert not unconverged, "; ".join(unconverged)


def test_the_app_answers_http_on_its_domain(health: httpx.Response, app: App, meta: RecipeMeta) -> None:
    assert health.status_code in (200, 301, 302), (
        f"GET {meta.HEALTH_PATH} with Host: {app.domain} answered {health.status_code}")


def test_the_restore_wrote_back_the_backups_snapshot(op_state: OpState) -> None:
    snapshot, restored = op_state["backup"].snapshot, op_state["restore"].restore
    assert snapshot is not None and restored is not None
    assert restored.snapshot_id == snapshot.id
    assert restored.volumes == sorted(snapshot.volumes)
    assert restored.files == len(snapshot.files)


def test_every_backed_up_file_is_back_byte_identical(app: App, driver: Driver, op_state: OpState) -> None:
    snapshot = op_state["backup"].snapshot
    assert snapshot is not None
    live = {(f.volume, f.path): f.sha256 for files in driver.volume_files(app).values() for f in files}
    differ = [f"{f.volume}:{f.path}" + (" (missing)" if (f.volume, f.path) not in live else "")
              for f in snapshot.files if live.get((f.volume, f.path)) != f.sha256]
    assert differ == [], f"{len(differ)} of {len(snapshot.files)} backed-up file(s) not restored as taken"
