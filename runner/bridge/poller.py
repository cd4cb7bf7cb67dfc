"""Polling intake, for forges where no webhook can be registered: every interval, ask each
enrolled repo for comments updated since a durable per-repo cursor and submit them to intake."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from runner.bridge.config import BridgeConfig
from runner.bridge.forge import ForgeClient, ForgeError
from runner.bridge.intake import Intake
from runner.bridge.store import Store

log = logging.getLogger("cc-ci.bridge")


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def newest(cursor: str, stamps: list[str]) -> str:
    """The cursor moved to the newest timestamp seen; the forge's clock, not ours, decides."""
    best = datetime.fromisoformat(cursor)
    for stamp in stamps:
        try:
            best = max(best, datetime.fromisoformat(stamp))
        except ValueError:
            continue
    return rfc3339(best)


class Poller:
    def __init__(
        self,
        cfg: BridgeConfig,
        store: Store,
        forge: ForgeClient,
        intake: Intake,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._cfg = cfg
        self._store = store
        self._forge = forge
        self._intake = intake
        self._now = now
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> int:
        submitted = 0
        for repo in self._cfg.repos:
            try:
                submitted += self._poll_repo(repo)
            except ForgeError as err:
                log.warning("poll %s: %s; trying again next interval", repo, err)
        return submitted

    def _poll_repo(self, repo: str) -> int:
        since = self._store.cursor(repo)
        if since is None:
            # First sight of this repo: start from now rather than replaying its whole history.
            self._store.set_cursor(repo, rfc3339(self._now()))
            return 0
        comments = self._forge.comments_since(repo, since)
        accepted = sum(self._intake.submit(comment.event) == "accepted" for comment in comments)
        self._store.set_cursor(repo, newest(since, [comment.updated_at for comment in comments]))
        return accepted

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.poll_once()
            except Exception:  # a bug in one poll must not end polling
                log.exception("poll failed")
            self._stopping.wait(self._cfg.poll.interval_seconds)
