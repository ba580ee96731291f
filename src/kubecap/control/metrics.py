"""The webhook's Prometheus metrics, in a registry of its own (several apps can live in one process).

Decisions by outcome, review latency, internal errors, bad requests, the snapshot's age,
version and staleness, and audit events that could not be written.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from kubecap.control.admission import Outcome

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class WebhookMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.decisions = Counter(
            "kubecap_webhook_decisions",
            "Admission reviews answered, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        # Label children created once: no lookup by label value on the hot path.
        self.outcome = {o: self.decisions.labels(o.value) for o in Outcome}
        self.latency = Histogram(
            "kubecap_webhook_review_seconds",
            "Time from a complete request body to the encoded answer.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
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
