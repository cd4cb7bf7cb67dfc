"""Backup and restore with backup-bot-two's semantics (placeholder until the restic path lands)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runner.errors import InfraError
from runner.harness.app import App
from runner.harness.opstate import RestoreRecord, Snapshot

if TYPE_CHECKING:
    from runner.drivers.swarm.driver import SwarmDriver


def unsupported_reason(labels_by_service: dict[str, dict[str, str]]) -> str | None:
    if any(labels.get("backupbot.backup", "").lower() == "true" for labels in labels_by_service.values()):
        return None
    return "no service has the deploy label backupbot.backup=true"


def backup(driver: SwarmDriver, app: App) -> Snapshot:
    raise InfraError("backup is not implemented yet")


def restore(driver: SwarmDriver, app: App, snapshot: Snapshot) -> RestoreRecord:
    raise InfraError("restore is not implemented yet")
