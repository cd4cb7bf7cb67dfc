"""Sends the outbox: the replies and run reports that intake decisions owe the PRs.

Rows are written in the same transaction as the decision (Store.decide), then sent here by a few
threads and marked sent. A row that was being sent when the bridge died is sent again on the next
start; sending is idempotent (the forge is searched for the comment's marker first), so a kill
at any point loses no reply and duplicates none. A row the forge keeps refusing is retried with
backoff, up to a minute apart, and given up after a day (logged as an error).
On stop the outbox is drained for up to DRAIN_SECONDS; what is left is sent on the next start.
"""

from __future__ import annotations

import logging
import threading
import time

from runner.bridge.forge.client import ForgeError
from runner.bridge.reports import Reporter
from runner.bridge.store import OutboxItem, Store

log = logging.getLogger("cc-ci.bridge")

DRAIN_SECONDS = 30.0
MAX_RETRY_SECONDS = 60.0
GIVE_UP_SECONDS = 24 * 3600.0


def retry_delay(attempts: int, base_seconds: float) -> float:
    return min(max(base_seconds, 0.01) * 2**attempts, MAX_RETRY_SECONDS)


class Outbox:
    def __init__(
        self, store: Store, reporter: Reporter, base_seconds: float = 1.0, workers: int = 8
    ) -> None:
        self._store = store
        self._reporter = reporter
        self._base_seconds = base_seconds
        self._workers = workers
        self._wake = threading.Condition()
        self._stopping = False
        self._drain_until = 0.0
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._store.release_outbox()
        for index in range(self._workers):
            thread = threading.Thread(target=self._work, name=f"outbox-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def stop(self, drain_seconds: float = DRAIN_SECONDS) -> None:
        """Send what is due (for up to `drain_seconds`), then stop."""
        with self._wake:
            self._stopping = True
            self._drain_until = time.monotonic() + drain_seconds
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(timeout=drain_seconds + 10)
        pending = self._store.outbox_counts().get("pending", 0)
        if pending:
            log.warning(
                "outbox: %d repl(ies) not sent yet; they are sent on the next start", pending
            )

    def _work(self) -> None:
        while True:
            if self._stopping and time.monotonic() >= self._drain_until:
                return
            item = self._store.claim_outbox(time.time())
            if item is None:
                if self._stopping:
                    return  # drained: nothing due is left
                self._sleep_until_due()
                continue
            self._send(item)

    def _sleep_until_due(self) -> None:
        due = self._store.next_outbox_try_at()
        timeout = 1.0 if due is None else min(1.0, max(0.0, due - time.time()))
        with self._wake:
            if not self._stopping:
                self._wake.wait(timeout)

    def _send(self, item: OutboxItem) -> None:
        try:
            self._reporter.send(item)
        except ForgeError as err:
            self._failed(item, str(err))
            return
        except Exception as err:  # a bug in one item must not stop the outbox
            log.exception(
                "outbox item %d (%s on %s#%d) failed", item.id, item.kind, item.repo, item.number
            )
            self._failed(item, f"{type(err).__name__}: {err}")
            return
        self._store.outbox_sent(item.id)

    def _failed(self, item: OutboxItem, error: str) -> None:
        if time.time() - item.created_at > GIVE_UP_SECONDS:
            log.error(
                "outbox: giving up on %s for %s#%d: %s", item.kind, item.repo, item.number, error
            )
            self._store.outbox_give_up(item.id, error)
            return
        delay = retry_delay(item.attempts, self._base_seconds)
        log.warning(
            "outbox: %s for %s#%d not sent (%s); trying again in %.1fs",
            item.kind,
            item.repo,
            item.number,
            error,
            delay,
        )
        self._store.outbox_retry(item.id, time.time() + delay, error)
