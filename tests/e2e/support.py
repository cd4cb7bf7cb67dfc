"""Helpers shared by the e2e tests."""

from __future__ import annotations

import json
import os
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
    # sparse: one listing, no inspect of each container after it (a container another test removes
    # in between would be a 404)
    names = [c.attrs["Names"][0].lstrip("/") for c in client.containers.list(all=True, sparse=True)]
    found += [f"container {name}" for name in names if "_ccci_test" in name]
    return sorted(found)


def own_domain_base() -> str:
    """A domain base of the test's own (`t<hex>.ccci.test`): every object a run with it makes is
    named `..._t<hex>_ccci_test`, so the test can look for its run's objects alone while other tests
    (the suite runs in parallel) create and remove theirs."""
    return f"t{os.urandom(3).hex()}.ccci.test"


def named_for(domain_base: str, names: list[str]) -> list[str]:
    """The names that belong to a run with this domain base."""
    return [name for name in names if domain_base.replace(".", "_") in name]


def asked(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The results.json rows of the ops the run was asked for (or that they needed): every op of
    the lifecycle has a row, and those outside STAGES are `skip` with that reason."""
    return [t for t in results["tiers"] if not (t["verdict"] == "skip" and t["error"] == "not in STAGES")]


def tier(results: dict[str, Any], op: str) -> dict[str, Any]:
    """The results.json row of one op (every op has one; those not run are `skip`)."""
    (row,) = [t for t in results["tiers"] if t["op"] == op]
    return row
