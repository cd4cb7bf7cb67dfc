"""Reading comments through the forge API: the catch-up on start, and polling intake.

Every enrolled repo has a durable cursor: comments updated at or after it are listed
(`GET …/issues/comments?since=`) and submitted to intake, which drops the ones it already has.

- **Catch-up** (every start): each repo is listed once from the cursor saved before the webhook
  endpoint started serving, so a `!testme` made while the bridge was down runs once after it
  starts; retried with backoff until every repo answered. In webhook-only mode the cursor moves
  with the comments webhooks bring (Intake), so catching up reads little more than the downtime.
- **Polling** (`poll.interval_seconds` > 0): the same listing, every interval; only polls move
  the cursor then, and the first poll is the catch-up (a repo that failed is asked next interval).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from runner.bridge.config import BridgeConfig
from runner.bridge.forge.client import ForgeClient, ForgeError, rfc3339
from runner.bridge.intake import Intake
from runner.bridge.store import Store

log = logging.getLogger("cc-ci.bridge")

__all__ = ["Poller", "newest", "rfc3339"]

CATCH_UP_MAX_DELAY_SECONDS = 60.0


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
        self._saved: dict[str, str | None] = {}
        self.caught_up = threading.Event()  # set once every repo answered the catch-up

    def poll_once(self) -> int:
        submitted = 0
        for repo in self._cfg.repos:
            try:
                submitted += self._poll_repo(repo, self._store.cursor(repo))
            except ForgeError as err:
                log.warning("poll %s: %s; trying again next interval", repo, err)
        return submitted

    def _poll_repo(self, repo: str, since: str | None) -> int:
        if since is None:
            # First sight of this repo: start from now rather than replaying its whole history.
            self._store.advance_cursor(repo, rfc3339(self._now()))
            return 0
        comments = self._forge.comments_since(repo, since)
        accepted = sum(self._intake.submit(comment.event) == "accepted" for comment in comments)
        self._store.advance_cursor(repo, newest(since, [comment.updated_at for comment in comments]))
        return accepted

    def save_cursors(self) -> None:
        """Read the cursors the catch-up starts from; call before webhooks are served, since in
        webhook-only mode each delivery moves its repo's cursor."""
        self._saved = {repo: self._store.cursor(repo) for repo in self._cfg.repos}

    def catch_up(self, base_delay: float = 1.0) -> int:
        """List each repo once from its saved cursor; a repo whose listing failed is asked again
        with backoff until it answers or the bridge stops. Returns the comments accepted."""
        pending = dict(self._saved) if self._saved else {r: self._store.cursor(r) for r in self._cfg.repos}
        accepted = 0
        delay = max(base_delay, 0.01)
        while pending and not self._stopping.is_set():
            for repo, since in list(pending.items()):
                try:
                    found = self._poll_repo(repo, since)
                except ForgeError as err:
                    log.warning("catch-up %s: %s; trying again in %.0fs", repo, err, delay)
                    continue
                del pending[repo]
                accepted += found
                if found:
                    log.info(
                        "catch-up %s: %d !testme comment(s) made since %s while the bridge was "
                        "not listening",
                        repo,
                        found,
                        since,
                    )
            if pending:
                self._stopping.wait(delay)
                delay = min(delay * 2, CATCH_UP_MAX_DELAY_SECONDS)
        if not pending:
            self.caught_up.set()
        return accepted

    def start(self) -> None:
        if not self._saved:
            self.save_cursors()
        polling = self._cfg.poll.interval_seconds > 0
        target = self._loop if polling else self._catch_up_once
        self._thread = threading.Thread(
            target=target, name="poller" if polling else "catch-up", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _catch_up_once(self) -> None:
        try:
            self.catch_up(self._cfg.retry.base_seconds)
        except Exception:  # a bug here must not take the bridge down; webhooks still work
            log.exception("catch-up failed")

    def _loop(self) -> None:
        # Webhooks do not move the cursor when polling is on, so the first poll is the catch-up.
        while not self._stopping.is_set():
            try:
                self.poll_once()
            except Exception:  # a bug in one poll must not end polling
                log.exception("poll failed")
            self.caught_up.set()
            self._stopping.wait(self._cfg.poll.interval_seconds)
