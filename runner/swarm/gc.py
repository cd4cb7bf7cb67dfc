"""Which runs' objects on the swarm gc may remove: those of a run that is no longer alive.

A run of this harness host (its `cc-ci.host` label is ours, or absent: made before the label)
is alive while it holds the lock on its run dir, found from the `cc-ci.run-dir` label whatever
runs dir gc is given. Another host's run cannot be asked for its lock: it is alive while its
heartbeat stamp (`runner/swarm/stamp.py`) is at most `ttl_s` old; only older is it removed.
A run with no stamp at all is judged by its objects' newest creation time instead.

A shared dependency (its run dir has a `dep.json`: `runner/deps/shared.py`) outlives the run that
deployed it: it is kept while any run holds its lease, and removed once it has been idle (no lease
since a run last released it) longer than the TTL, by this host's clock.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import docker

from runner.run.deps import released_at
from runner.run.rundir import RunDir, RunFileUnreadable
from runner.run.runlock import run_is_alive
from runner.swarm.stack import (
    HOST_LABEL,
    OWNER_STACK_LABEL,
    RUN_DIR_LABEL,
    RUN_LABEL,
    STACK_LABEL,
)
from runner.swarm.stamp import STAMP_LABEL, is_stamp

DEFAULT_TTL_S = 900.0  # 30 missed heartbeats: a live run is never that quiet, a dead one goes soon enough


@dataclass(frozen=True)
class FoundRun:
    stack: str
    run_id: str
    host: str | None  # None: made before objects carried the host label
    run_dir: Path | None  # from the label; None for objects made before the label existed
    stamp: float | None = None  # its newest heartbeat, engine time (seconds since the epoch)
    created: float | None = None  # its objects' newest creation, engine time

    def lock_dir(self, runs_dir: Path) -> Path:
        return self.run_dir or runs_dir / self.run_id


@dataclass(frozen=True)
class Judgement:
    run: FoundRun
    remove: bool
    why: str


def judge(run: FoundRun, *, own_host: str, runs_dir: Path, now: float, ttl_s: float,
          lock_alive: Callable[[Path], bool] = run_is_alive,
          idle_since: Callable[[Path], float | None] = lambda path: released_at(RunDir(path)),
          wall_now: Callable[[], float] = time.time) -> Judgement:
    """Remove or keep, and why. A stamp exactly `ttl_s` old is kept: only older ones go; so is a
    shared dependency idle exactly `ttl_s` (by `wall_now`, this host's clock: it released it)."""
    if run.host is None or run.host == own_host:
        lock = run.lock_dir(runs_dir)
        try:
            alive = lock_alive(lock)
        except RunFileUnreadable as err:
            return Judgement(run, False, f"cannot tell whether its run is alive ({err}): kept")
        since = idle_since(lock)
        if since is not None:
            return _judge_dependency(run, alive, wall_now() - since, ttl_s)
        if alive:
            return Judgement(run, False, f"its run holds the lock on {lock}: live")
        return Judgement(run, True, f"no run holds the lock on {lock}: killed before its teardown")
    seen, what = (run.stamp, "heartbeat") if run.stamp is not None else (run.created, "newest object (no heartbeat)")
    if seen is None:
        return Judgement(run, False, f"host {run.host}'s run has no heartbeat and no creation time: cannot judge")
    age = now - seen
    if age > ttl_s:
        return Judgement(run, True, f"host {run.host}'s {what} is {age:.0f}s old, past the TTL of {ttl_s:.0f}s")
    return Judgement(run, False, f"host {run.host}'s {what} is {age:.0f}s old, within the TTL of {ttl_s:.0f}s: live")


def _judge_dependency(run: FoundRun, leased: bool, idle_s: float, ttl_s: float) -> Judgement:
    if leased:
        return Judgement(run, False, "a shared dependency, leased by a run using it: kept")
    if idle_s > ttl_s:
        return Judgement(run, True, f"a shared dependency idle for {idle_s:.0f}s, past the TTL of {ttl_s:.0f}s")
    return Judgement(run, False, f"a shared dependency idle for {idle_s:.0f}s, within the TTL of {ttl_s:.0f}s: kept")


@dataclass
class _Seen:
    labels: dict[str, str]
    stamp: float | None = None
    created: float | None = None

    def note(self, labels: dict[str, str], created: str | None, stamp: bool) -> None:
        when = parse_time(created) if created else None
        if when is not None and stamp:
            self.stamp = max(when, self.stamp if self.stamp is not None else when)
        elif when is not None:
            self.created = max(when, self.created if self.created is not None else when)
        if HOST_LABEL not in self.labels and HOST_LABEL in labels:
            self.labels = labels


def find_runs(client: docker.DockerClient) -> list[FoundRun]:
    """Every run with objects on the swarm: services, secrets and stamps carrying a run label."""
    found: dict[str, _Seen] = {}
    listings = [
        (client.api.services(filters={"label": RUN_LABEL}), STACK_LABEL, False),
        (client.api.secrets(filters={"label": RUN_LABEL}), OWNER_STACK_LABEL, False),
        (client.api.configs(filters={"label": STAMP_LABEL}), OWNER_STACK_LABEL, True),
    ]
    for objects, stack_label, stamps in listings:
        for obj in objects:
            labels = obj["Spec"].get("Labels") or {}
            stack = labels.get(stack_label, "")
            if not stack or RUN_LABEL not in labels or (stamps and not is_stamp(labels)):
                continue
            found.setdefault(stack, _Seen(labels)).note(labels, obj.get("CreatedAt"), stamps)
    runs = []
    for stack, seen in sorted(found.items()):
        run_dir = seen.labels.get(RUN_DIR_LABEL)
        runs.append(FoundRun(stack, seen.labels[RUN_LABEL], seen.labels.get(HOST_LABEL),
                             Path(run_dir) if run_dir else None, seen.stamp, seen.created))
    return runs


def reclaim_command(address: str, runs_dir: Path) -> str:
    """The `cc-ci gc` that removes what a run left on its target, as an operator would type it."""
    where = "" if address == "local" else f"CCCI_DOCKER_HOST={shlex.quote(address)} "
    return f"{where}cc-ci gc --runs-dir {shlex.quote(str(runs_dir))}"


_FRACTION = re.compile(r"\.(\d+)")


def parse_time(text: str) -> float | None:
    """Docker's RFC 3339 times (nanoseconds, `Z` or an offset) as seconds since the epoch."""
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6], text.strip()).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def engine_now(client: docker.DockerClient) -> float:
    """The engine's clock: the one that stamped the heartbeats."""
    now = parse_time(str(client.info().get("SystemTime", "")))
    if now is None:
        raise ValueError("the engine did not say its time (docker info: SystemTime)")
    return now
