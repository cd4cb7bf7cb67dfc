"""Reclaiming what runs killed before their teardown (SIGKILL, power loss) left on the swarm,
and pruning the run dirs of old runs.

A live run holds an exclusive flock on `<run dir>/run.lock`; a stack whose run holds none is
orphaned. The run dir is read from the stack's `cc-ci.run-dir` label, so a live run is spared even
when gc is pointed at another runs dir.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker

from runner.drivers.swarm import OWNER_STACK_LABEL, RUN_DIR_LABEL, RUN_LABEL, remove_stack
from runner.harness.lifecycle import STACK_LABEL

LOCK_NAME = "run.lock"


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Held for the whole run; the kernel releases it when the process dies, however it dies."""
    with (run_dir / LOCK_NAME).open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield


def run_is_alive(run_dir: Path) -> bool:
    lock = run_dir / LOCK_NAME
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


def reclaim(client: docker.DockerClient, orphan: Orphan) -> list[str]:
    return remove_stack(client, orphan.stack)


def run_dir_age_seconds(run_dir: Path, now: float) -> float:
    """How long ago the run last wrote: its results, else the dir itself."""
    results = run_dir / "results.json"
    return now - (results if results.exists() else run_dir).stat().st_mtime


def stale_run_dirs(runs_dir: Path, older_than_seconds: float, now: float,
                   keep: frozenset[str] = frozenset()) -> list[Path]:
    """Run dirs older than the limit whose run is not alive and not in `keep` (run ids that still
    have objects on the swarm: their run dir is the evidence of what they were)."""
    if not runs_dir.is_dir():
        return []
    return [run_dir for run_dir in sorted(runs_dir.iterdir())
            if run_dir.is_dir() and run_dir.name not in keep
            and run_dir_age_seconds(run_dir, now) > older_than_seconds
            and not run_is_alive(run_dir)]
