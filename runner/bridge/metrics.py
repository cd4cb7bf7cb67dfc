"""`/metrics` in the Prometheus text format (prometheus_client).

Counts that live in the store (runs by state and verdict, queue depth, outbox backlog) are read
from it at each scrape, so they survive restarts; what only this process sees (comment→queued
latency, forge failures) is kept in memory, as Prometheus counters usually are.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from runner.bridge.forge.client import ForgeClient
from runner.bridge.store import Store

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Comment -> queued is a few forge calls: milliseconds when healthy, seconds when the forge is slow.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class _StoreCollector(Collector):
    def __init__(self, store: Store, forge: ForgeClient) -> None:
        self._store = store
        self._forge = forge

    def collect(self) -> Iterator[Metric]:
        counts = self._store.job_counts()
        runs = CounterMetricFamily(
            "ccci_bridge_runs",
            "Runs that ended, by how they ended (state: finished, lost, cancelled) and verdict",
            labels=["state", "verdict"],
        )
        for (state, verdict), count in sorted(counts.items()):
            if state in ("finished", "lost", "cancelled"):
                runs.add_metric([state, verdict or "none"], count)
        yield runs
        jobs = GaugeMetricFamily(
            "ccci_bridge_jobs", "Jobs waiting or in progress, by state", labels=["state"]
        )
        for state in ("queued", "running"):
            jobs.add_metric([state], sum(n for (s, _), n in counts.items() if s == state))
        yield jobs
        outbox = GaugeMetricFamily(
            "ccci_bridge_outbox",
            "PR replies and run reports not sent yet (pending) or given up (failed)",
            labels=["state"],
        )
        backlog = self._store.outbox_counts()
        for state in ("pending", "sending", "failed"):
            outbox.add_metric([state], backlog.get(state, 0))
        yield outbox
        yield CounterMetricFamily(
            "ccci_bridge_forge_errors",
            "Forge API calls that failed for good (after retries), since the bridge started",
            value=self._forge.failures,
        )


class BridgeMetrics:
    def __init__(self, store: Store, forge: ForgeClient) -> None:
        # One registry per bridge (not the process-wide default): tests run several bridges.
        self.registry = CollectorRegistry()
        self.registry.register(_StoreCollector(store, forge))
        self._latency = Histogram(
            "ccci_bridge_comment_to_queued_seconds",
            "From the bridge receiving a !testme comment to its run being queued",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe_queued(self, seconds: float) -> None:
        self._latency.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
