"""A live run's heartbeat on the target: a swarm config `<stack>_ccci-stamp-<n>`, carrying the
run's labels, made anew every `every_s` seconds (the previous one removed after), for as long as
the run lives. Its age is read from the engine's own `CreatedAt` and compared with the engine's
clock, so no clock of any harness host enters gc's judgement. Configs are small, listed by label
in one call, and named after the stack, so teardown and gc remove them with it."""

from __future__ import annotations

import contextlib
import logging
import threading
from types import TracebackType

import docker

from runner.swarm.stack import OWNER_STACK_LABEL, run_labels, unless_gone

log = logging.getLogger(__name__)

STAMP_LABEL = "cc-ci.stamp"
HEARTBEAT_S = 30.0


class Heartbeat:
    """`with Heartbeat(...)`: stamped at once and refreshed in a thread, stopped on exit (after
    the beat in flight, before teardown: no new stamp appears while the stack is removed)."""

    def __init__(self, client: docker.DockerClient, stack: str, run_id: str, run_dir: str, host_id: str,
                 every_s: float = HEARTBEAT_S) -> None:
        self._client, self._stack, self._every_s = client, stack, every_s
        self._labels = run_labels(run_id, run_dir, host_id) | {OWNER_STACK_LABEL: stack, STAMP_LABEL: "1"}
        self._beats = 0
        self._current: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"heartbeat-{stack}")

    def beat(self) -> None:
        """A new stamp, then the previous one goes (for a moment both exist: gc takes the newest)."""
        self._beats += 1
        # its age is its CreatedAt; the data only has to be non-empty (swarm refuses an empty config)
        made = self._client.api.create_config(f"{self._stack}_ccci-stamp-{self._beats}", b"cc-ci heartbeat",
                                              labels=self._labels)
        previous, self._current = self._current, str(made["ID"])
        if previous:
            unless_gone(self._client.api.remove_config, previous)

    def _run(self) -> None:
        # the first beat too: off the run's critical path (until it lands, another host's gc
        # judges the run by its objects' creation times, which are as fresh)
        while True:
            try:
                self.beat()
            except Exception:  # a busy engine or a dropped connection: the next beat tries again
                log.warning("heartbeat of %s failed", self._stack, exc_info=True)
            if self._stop.wait(self._every_s):
                return

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        with contextlib.suppress(RuntimeError):
            self._thread.join()


def is_stamp(labels: dict[str, str]) -> bool:
    return labels.get(STAMP_LABEL) == "1"


