"""The one intake path. Webhook and poller `submit` comment events; cheap checks drop ordinary
comments at once, candidates go to the durable inbox (deduplicated by comment), and intake
workers evaluate them: enrolled repo, open PR, authorised author, valid options -> a queued job.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from runner.bridge.config import BridgeConfig
from runner.bridge.events import CommentEvent, coalesce_key, delivery_key
from runner.bridge.forge import ForgeClient, ForgeError
from runner.bridge.grammar import Malformed, NotATrigger, looks_like_trigger, parse_trigger
from runner.bridge.reporting import Reporter, coalesced_body, malformed_body, unauthorised_body
from runner.bridge.retry import RetryPolicy, backoff_delays
from runner.bridge.store import InboxItem, NewJob, Store

log = logging.getLogger("cc-ci.bridge")

# Org membership answers are reused this long: a burst of comments costs one API call, and a
# removed member keeps their rights for at most this long.
MEMBERSHIP_TTL_SECONDS = 60.0


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
        reporter: Reporter,
        on_queued: Callable[[], None],
        workers: int = 8,
    ) -> None:
        self._cfg = cfg
        self._store = store
        self._forge = forge
        self._reporter = reporter
        self._on_queued = on_queued
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
        reason = prefilter(event, self._cfg)
        if reason is not None:
            return f"ignored: {reason}"
        key = delivery_key(event.repo, event.comment_id)
        now = time.time()
        if not self._store.add_to_inbox(key, event, now):
            log.info("comment %s: duplicate delivery (%s), dropped", key, event.source)
            return "duplicate"
        self._queue.put(InboxItem(key, event, now, 0))
        return "accepted"

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
                outcome = self.evaluate(item)
            except ForgeError as err:
                self._defer(item, err)
                continue
            except Exception:  # a bug in one evaluation must not stop intake
                log.exception("comment %s: evaluation failed", item.key)
                outcome = "error: evaluation failed"
            self._store.close_inbox(item.key, outcome)
            log.info(
                "comment %s by %s (%s): %s", item.key, item.event.author, item.event.source, outcome
            )

    def _defer(self, item: InboxItem, err: ForgeError) -> None:
        delays = backoff_delays(self._policy)
        if item.attempts >= len(delays):
            log.error(
                "comment %s: giving up after %d attempts: %s", item.key, item.attempts + 1, err
            )
            self._store.close_inbox(item.key, "error: forge unreachable")
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

    def evaluate(self, item: InboxItem) -> str:
        event = item.event
        recipe = self._cfg.recipe_for(event.repo)
        if recipe is None:
            return "ignored: repository not enrolled"
        parsed = parse_trigger(event.body, self._cfg.default_stages, self._cfg.stages)
        if isinstance(parsed, NotATrigger):
            return "ignored: not a !testme comment"
        if not self._authorised(event):
            if self._cfg.reply_to_unauthorised:
                self._reporter.reply_later(
                    event.repo, event.number, unauthorised_body(event.author)
                )
            return "denied: not authorised"
        if isinstance(parsed, Malformed):
            self._reporter.reply_later(event.repo, event.number, malformed_body(parsed.reason))
            return f"malformed: {parsed.reason}"
        # The payload's PR state and head are not trusted: ask the forge.
        pull = self._forge.get_pull(event.owner, event.name, event.number)
        if pull is None:
            return "ignored: not a pull request"
        if not pull.is_open:
            return "ignored: pull request is not open"
        new = NewJob(
            repo=event.repo,
            recipe=recipe,
            pr=pull.number,
            head_sha=pull.head_sha,
            stages=parsed.stages,
            coalesce_key=coalesce_key(event.repo, pull.number, pull.head_sha, parsed.stages),
            delivery_key=item.key,
            requested_by=event.author,
            received_at=item.received_at,
        )
        job, what = self._store.enqueue(new)
        if what == "queued":
            self._on_queued()
            self._reporter.accepted_later(job)
        elif what == "coalesced":
            self._reporter.reply_later(
                event.repo, event.number, coalesced_body(job, self._reporter.follow_url(job))
            )
        return f"{what}: {job.run_id}"

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
