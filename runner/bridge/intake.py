"""The one intake path. Webhook and poller `submit` comment events; cheap checks drop ordinary
comments at once, candidates go to the durable inbox (deduplicated by comment), and intake
workers evaluate them: enrolled repo, open PR, authorised author, valid options, a head the
member saw -> a queued job. Each evaluation is recorded with the reply it owes in one
transaction (Store.decide); the outbox sends the reply afterwards.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from runner.bridge.binding import head_changed_since, pinned_head_matches
from runner.bridge.config import BridgeConfig
from runner.bridge.forge.client import ForgeAuthError, ForgeClient, ForgeError, forge_time, rfc3339
from runner.bridge.forge.events import CommentEvent, coalesce_key, delivery_key
from runner.bridge.grammar import (
    Malformed,
    NotATrigger,
    looks_like_trigger,
    parse_trigger,
    printable,
)
from runner.bridge.refusals import (
    head_moved_body,
    malformed_body,
    no_timeline_body,
    reply_marker,
    sha_mismatch_body,
    short,
    unauthorised_body,
)
from runner.bridge.retry import RetryPolicy, backoff_delays
from runner.bridge.store import Decision, InboxItem, NewJob, Reply, Store

log = logging.getLogger("cc-ci.bridge")

# Org membership answers are reused this long: a burst of comments costs one API call, and a
# removed member keeps their rights for at most this long.
MEMBERSHIP_TTL_SECONDS = 60.0

# In webhook-only mode each delivered comment moves the repo's catch-up cursor to its time minus
# this: the forge may deliver webhooks out of order, so a comment a little older than the newest
# one seen may still be on its way when the bridge stops. Catching up lists it again; the inbox
# drops what it already has.
CATCH_UP_MARGIN = timedelta(minutes=10)


def prefilter(event: CommentEvent, cfg: BridgeConfig) -> str | None:
    """Why this comment can never start a run (checked before anything is stored), or None."""
    if cfg.recipe_for(event.repo) is None:
        return "repository not enrolled"
    if not event.is_pull:
        return "not a pull request"
    if not looks_like_trigger(event.body):
        return "not a !testme comment"
    return None


class Intake:
    def __init__(
        self,
        cfg: BridgeConfig,
        store: Store,
        forge: ForgeClient,
        on_decided: Callable[[], None],
        workers: int = 8,
        on_queued: Callable[[float], None] = lambda seconds: None,
    ) -> None:
        self._cfg = cfg
        self._store = store
        self._forge = forge
        self._on_decided = on_decided
        self._on_queued = on_queued  # seconds from receiving the comment to its job queued
        # Without polling, webhooks are what the bridge saw: they move the catch-up cursor.
        self._webhooks_move_cursor = cfg.poll.interval_seconds == 0
        self._workers = workers
        self._policy = RetryPolicy(
            cfg.retry.attempts, cfg.retry.base_seconds, cfg.retry.max_seconds
        )
        self._queue: queue.Queue[InboxItem | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._timers: list[threading.Timer] = []
        self._members: dict[tuple[str, str], tuple[bool, float]] = {}

    def submit(self, event: CommentEvent) -> str:
        """Returns what happened to the event: "accepted", "duplicate" or "ignored: <why>"."""
        if self._webhooks_move_cursor and event.source == "webhook":
            self._seen_by_webhook(event)
        reason = prefilter(event, self._cfg)
        if reason is not None:
            return f"ignored: {reason}"
        key = delivery_key(event.repo, event.comment_id)
        now = time.time()
        if not self._store.add_to_inbox(key, event, now):
            if event.edited:
                log.info(
                    "comment %s: edited after it was evaluated; edits are not read again "
                    "(its reply, if any, asks for a new comment)",
                    key,
                )
                return "duplicate: an edit of a comment already evaluated; post a new comment"
            # Every poll lists the comments webhooks already brought: routine, not news.
            level = logging.DEBUG if event.source == "poll" else logging.INFO
            log.log(level, "comment %s: duplicate delivery (%s), dropped", key, event.source)
            return "duplicate"
        self._queue.put(InboxItem(key, event, now, 0))
        return "accepted"

    def _seen_by_webhook(self, event: CommentEvent) -> None:
        if self._cfg.recipe_for(event.repo) is None:
            return
        try:
            moment = forge_time(event.commented_at)
        except ValueError:
            return
        self._store.advance_cursor(event.repo, rfc3339(moment - CATCH_UP_MARGIN))

    def start(self) -> None:
        # Comments stored by a previous bridge but not yet evaluated are evaluated now.
        for item in self._store.pending_inbox(now=float("inf"), limit=10_000):
            self._queue.put(item)
        for index in range(self._workers):
            thread = threading.Thread(target=self._work, name=f"intake-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=10)

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                decision = self.evaluate(item)
            except ForgeAuthError as err:
                # Retrying cannot fix a rejected token: say so once, keep the comment stored.
                log.error(
                    "comment %s: %s; the comment stays stored and is evaluated when the bridge "
                    "starts again",
                    item.key,
                    err,
                )
                continue
            except ForgeError as err:
                self._defer(item, err)
                continue
            except Exception:  # a bug in one evaluation must not stop intake
                log.exception("comment %s: evaluation failed", item.key)
                decision = Decision("error: evaluation failed")
            outcome = self._store.decide(item.key, decision)
            self._on_decided()
            if outcome.startswith("queued:"):
                self._on_queued(max(0.0, time.time() - item.received_at))
            log.info(
                "comment %s by %s (%s): %s",
                item.key,
                printable(item.event.author),
                item.event.source,
                printable(outcome),
            )

    def _defer(self, item: InboxItem, err: ForgeError) -> None:
        delays = backoff_delays(self._policy)
        if item.attempts >= len(delays):
            log.error(
                "comment %s: giving up after %d attempts: %s", item.key, item.attempts + 1, err
            )
            self._store.decide(item.key, Decision("error: forge unreachable"))
            return
        delay = delays[item.attempts]
        log.warning(
            "comment %s: forge unavailable (%s); evaluating again in %.0fs", item.key, err, delay
        )
        self._store.defer_inbox(item.key, time.time() + delay)
        timer = threading.Timer(
            delay, self._queue.put, args=(replace(item, attempts=item.attempts + 1),)
        )
        timer.daemon = True
        timer.start()
        self._timers.append(timer)

    def evaluate(self, item: InboxItem) -> Decision:
        event = item.event
        marker = reply_marker(event.comment_id)

        def refuse(outcome: str, body: str) -> Decision:
            return Decision(outcome, reply=Reply(event.repo, event.number, body), marker=marker)

        recipe = self._cfg.recipe_for(event.repo)
        if recipe is None:
            return Decision("ignored: repository not enrolled")
        parsed = parse_trigger(event.body, self._cfg.default_stages, self._cfg.stages)
        if isinstance(parsed, NotATrigger):
            return Decision("ignored: not a !testme comment")
        if not self._authorised(event):
            if self._cfg.reply_to_unauthorised:
                return refuse("denied: not authorised", unauthorised_body(printable(event.author)))
            return Decision("denied: not authorised")
        if isinstance(parsed, Malformed):
            return refuse(f"malformed: {parsed.reason}", malformed_body(parsed.reason))
        # The payload's PR state and head are not trusted: ask the forge. The head is read
        # before the timeline (see head_changed_since).
        pull = self._forge.get_pull(event.owner, event.name, event.number)
        if pull is None:
            return Decision("ignored: not a pull request")
        if not pull.is_open:
            return Decision("ignored: pull request is not open")
        if parsed.sha is not None and not pinned_head_matches(parsed.sha, pull.head_sha):
            return refuse(
                f"refused: sha={parsed.sha} is not the head ({short(pull.head_sha)})",
                sha_mismatch_body(parsed.sha, pull.head_sha),
            )
        # A pin is checked against the timeline too: an author could push, after the comment, a
        # commit made to share the pinned prefix.
        pushes = self._forge.pushes(event.owner, event.name, event.number)
        if pushes is None and parsed.sha is None:
            return refuse("refused: the forge has no PR timeline", no_timeline_body(pull.head_sha))
        if pushes is not None and head_changed_since(
            pushes, pull.head_sha, self._commented_at(event)
        ):
            return refuse(
                f"refused: the head changed after the comment (now {short(pull.head_sha)})",
                head_moved_body(pull.head_sha),
            )
        new = NewJob(
            repo=event.repo,
            recipe=recipe,
            pr=pull.number,
            head_sha=pull.head_sha,
            head_repo=pull.head_repo,
            stages=parsed.stages,
            coalesce_key=coalesce_key(event.repo, pull.number, pull.head_sha, parsed.stages),
            delivery_key=item.key,
            requested_by=event.author,
            received_at=item.received_at,
        )
        return Decision("queued", job=new, marker=marker)

    def _commented_at(self, event: CommentEvent) -> datetime:
        """When the comment got its current body, by the forge's clock: from the signed payload
        or the poll, else (an inbox row from an older bridge) asked of the forge."""
        try:
            return forge_time(event.commented_at)
        except ValueError:
            pass
        comment = self._forge.get_comment(event.owner, event.name, event.comment_id)
        try:
            return forge_time(comment.updated_at)
        except ValueError:
            raise ForgeError(
                f"comment {event.comment_id}: the forge gave no valid updated_at ({comment.updated_at!r})"
            ) from None

    def _authorised(self, event: CommentEvent) -> bool:
        if self._cfg.allowlisted(event.author):
            return True
        # A user-owned repo has no organisation; its owner is its only "member".
        if event.author.lower() == event.owner.lower():
            return True
        key = (event.owner.lower(), event.author.lower())
        cached = self._members.get(key)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        member = self._forge.is_org_member(event.owner, event.author)
        self._members[key] = (member, time.monotonic() + MEMBERSHIP_TTL_SECONDS)
        return member
