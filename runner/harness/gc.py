"""Reclaiming what runs killed before their teardown (SIGKILL, power loss) left on the swarm.

A live run holds an exclusive flock on `<run dir>/run.lock`; a stack whose run holds none is
orphaned.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker

from runner.drivers.swarm import OWNER_STACK_LABEL, RUN_LABEL, remove_stack
from runner.harness.lifecycle import STACK_LABEL

LOCK_NAME = "run.lock"


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Held for the whole run; the kernel releases it when the process dies, however it dies."""
    with (run_dir / LOCK_NAME).open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield


def run_is_alive(runs_dir: Path, run_id: str) -> bool:
    lock = runs_dir / run_id / LOCK_NAME
    if not lock.exists():
        return False
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


@dataclass(frozen=True)
class Orphan:
    stack: str
    run_id: str


def find_cc_ci_stacks(client: docker.DockerClient) -> dict[str, str]:
    """stack -> run id, for every stack (or lone secret set) a cc-ci run created."""
    stacks: dict[str, str] = {}
    for service in client.services.list(filters={"label": RUN_LABEL}):
        labels = service.attrs["Spec"].get("Labels", {})
        stacks[labels.get(STACK_LABEL, "")] = labels[RUN_LABEL]
    for secret in client.secrets.list(filters={"label": RUN_LABEL}):
        labels = secret.attrs["Spec"].get("Labels", {})
        stacks.setdefault(labels.get(OWNER_STACK_LABEL, ""), labels[RUN_LABEL])
    stacks.pop("", None)
    return stacks


def find_orphans(client: docker.DockerClient, runs_dir: Path) -> list[Orphan]:
    return [Orphan(stack, run_id) for stack, run_id in sorted(find_cc_ci_stacks(client).items())
            if not run_is_alive(runs_dir, run_id)]


def reclaim(client: docker.DockerClient, orphan: Orphan) -> list[str]:
    return remove_stack(client, orphan.stack)
