"""Helpers shared by the e2e tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.run.rundir import RunDir
from runner.targets.local import connect as docker_client


@dataclass
class RunOutcome:
    returncode: int
    stdout: str
    stderr: str
    runs_dir: Path

    @property
    def run_dirs(self) -> list[Path]:
        return [p for p in self.runs_dir.iterdir() if p.is_dir()] if self.runs_dir.exists() else []

    @property
    def results(self) -> dict[str, Any]:
        (run_dir,) = self.run_dirs
        return json.loads(RunDir(run_dir).results.read_text())


def suite_objects() -> list[str]:
    """Everything on the engine that an e2e run could have created."""
    client = docker_client()
    found = [f"service {s.name}" for s in client.services.list() if "_ccci_test" in s.name]
    for kind in ("volumes", "secrets", "configs", "networks"):
        found += [f"{kind[:-1]} {o.name}" for o in getattr(client, kind).list() if "_ccci_test" in (o.name or "")]
    found += [f"container {c.name}" for c in client.containers.list(all=True) if "_ccci_test" in c.name]
    return sorted(found)


def asked(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The results.json rows of the ops the run was asked for (or that they needed): every op of
    the lifecycle has a row, and those outside STAGES are `skip` with that reason."""
    return [t for t in results["tiers"] if not (t["verdict"] == "skip" and t["error"] == "not in STAGES")]


def tier(results: dict[str, Any], op: str) -> dict[str, Any]:
    """The results.json row of one op (every op has one; those not run are `skip`)."""
    (row,) = [t for t in results["tiers"] if t["op"] == op]
    return row
