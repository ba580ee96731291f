"""The webhook's Prometheus metrics, in a registry of its own (several apps can live in one process).

Decisions by outcome, review latency, internal errors, bad requests, the snapshot's age,
version and staleness, and audit events that could not be written.

Every review is counted by outcome and timed: those two are plain integers bumped on the
event loop (``Reviews.count``) and turned into a counter and a histogram when scraped, not
prometheus_client's Counter and Histogram, whose lock and per-bucket loop cost more than
the rest of a memoised decision. The rarer events use prometheus_client directly.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from kubecap.control.admission import Outcome

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Reviews(Collector):
    """Reviews answered, by outcome, and their latency: counted on the event loop, exposed when scraped.

    Not thread-safe, by design: only the event loop's thread counts, and scrapes are served
    on that same thread.
    """

    def __init__(self) -> None:
        self.outcomes = dict.fromkeys(Outcome, 0)
        self._buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last: above every bound (+Inf only)
        self._sum = 0.0

    def count(self, outcome: Outcome, seconds: float) -> None:
        self.outcomes[outcome] += 1
        # bisect_left: a value equal to a bound belongs to that bound's bucket (le is "<=").
        self._buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self._sum += seconds

    def collect(self) -> Iterator[Metric]:
        decisions = CounterMetricFamily(
            "kubecap_webhook_decisions", "Admission reviews answered, by outcome.", labels=["outcome"]
        )
        for outcome, n in self.outcomes.items():
            decisions.add_metric([outcome.value], n)
        yield decisions
        cumulative, total = [], 0
        for bound, n in zip((*map(str, LATENCY_BUCKETS), "+Inf"), self._buckets, strict=True):
            total += n
            cumulative.append((bound, float(total)))
        yield HistogramMetricFamily(
            "kubecap_webhook_review_seconds",
            "Time from a complete request body to the encoded answer.",
            buckets=cumulative,
            sum_value=self._sum,
        )


class WebhookMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.reviews = Reviews()
        self.registry.register(self.reviews)
        self.bad_requests = Counter(
            "kubecap_webhook_bad_requests",
            "Requests refused before a decision (400 malformed, 413 too large).",
            ["status"],
            registry=self.registry,
        )
        self.internal_errors = Counter(
            "kubecap_webhook_internal_errors",
            "Reviews whose decision failed inside kubecap (admitted unless the namespace is fail-closed).",
            registry=self.registry,
        )
        self.audit_dropped = Counter(
            "kubecap_webhook_audit_dropped",
            "Audit events or registrations lost because the queue was full or the store failed.",
            registry=self.registry,
        )
        self.snapshot_age = Gauge(
            "kubecap_webhook_snapshot_age_seconds",
            "Seconds since the control snapshot was last confirmed current (-1: none loaded).",
            registry=self.registry,
        )
        self.snapshot_version = Gauge(
            "kubecap_webhook_snapshot_version",
            "Revision of the loaded control table.",
            registry=self.registry,
        )
        self.snapshot_stale = Gauge(
            "kubecap_webhook_snapshot_stale",
            "1 when the snapshot is older than the stale threshold.",
            registry=self.registry,
        )

    def watch_snapshot(
        self, age: Callable[[], float | None], version: Callable[[], int | None], stale: Callable[[], bool]
    ) -> None:
        """Read the snapshot's figures at scrape time."""
        self.snapshot_age.set_function(lambda: -1.0 if (a := age()) is None else a)
        self.snapshot_version.set_function(lambda: float(version() or 0))
        self.snapshot_stale.set_function(lambda: 1.0 if stale() else 0.0)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
