"""Reclaiming what runs killed before their teardown (SIGKILL, power loss) left on the swarm.

A stack whose run holds no lock on its run dir is orphaned. The run dir is read from the stack's
`cc-ci.run-dir` label, so a live run is spared even when gc is pointed at another runs dir.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import docker

from runner.drivers.swarm.stack import OWNER_STACK_LABEL, RUN_DIR_LABEL, RUN_LABEL, STACK_LABEL
from runner.harness.runlock import Orphan, run_is_alive


@dataclass(frozen=True)
class RunRef:
    run_id: str
    run_dir: Path | None  # from the label; None for objects made before the label existed

    def lock_dir(self, runs_dir: Path) -> Path:
        return self.run_dir or runs_dir / self.run_id


def _run_ref(labels: dict[str, str]) -> RunRef:
    run_dir = labels.get(RUN_DIR_LABEL)
    return RunRef(labels[RUN_LABEL], Path(run_dir) if run_dir else None)


def find_cc_ci_stacks(client: docker.DockerClient) -> dict[str, RunRef]:
    """stack -> its run, for every stack (or lone secret set) a cc-ci run created."""
    stacks: dict[str, RunRef] = {}
    for service in client.services.list(filters={"label": RUN_LABEL}):
        labels = service.attrs["Spec"].get("Labels", {})
        stacks[labels.get(STACK_LABEL, "")] = _run_ref(labels)
    for secret in client.secrets.list(filters={"label": RUN_LABEL}):
        labels = secret.attrs["Spec"].get("Labels", {})
        stacks.setdefault(labels.get(OWNER_STACK_LABEL, ""), _run_ref(labels))
    stacks.pop("", None)
    return stacks


def find_orphans(client: docker.DockerClient, runs_dir: Path) -> list[Orphan]:
    return [Orphan(stack, run.run_id) for stack, run in sorted(find_cc_ci_stacks(client).items())
            if not run_is_alive(run.lock_dir(runs_dir))]
