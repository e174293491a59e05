"""Worker metrics in Prometheus form: counts, handler latency, lag and pending age per stream."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class WorkerMetrics:
    """One registry per worker process; labels are binding and concrete stream."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        labels = ("binding", "stream")
        r = self.registry
        self.processed = Counter(
            "chimera_processed", "Entries handled and acked", labels, registry=r
        )
        self.failed = Counter(
            "chimera_failed", "Handler invocations that raised", labels, registry=r
        )
        self.retried = Counter(
            "chimera_retried", "Deliveries retried after a failure", labels, registry=r
        )
        self.dead_lettered = Counter(
            "chimera_dead_lettered", "Entries moved to a dead-letter stream", labels, registry=r
        )
        self.reclaimed = Counter(
            "chimera_reclaimed", "Entries reclaimed from idle consumers", labels, registry=r
        )
        self.latency = Histogram(
            "chimera_handler_seconds",
            "Handler latency",
            ("binding",),
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        group_labels = ("stream", "group")
        self.lag = Gauge(
            "chimera_group_lag", "Entries not yet delivered to the group", group_labels, registry=r
        )
        self.pending = Gauge(
            "chimera_group_pending", "Entries delivered but not acked", group_labels, registry=r
        )
        self.oldest_pending_age = Gauge(
            "chimera_group_oldest_pending_seconds",
            "Age of the oldest pending entry",
            group_labels,
            registry=r,
        )
        self.schedule_runs = Counter(
            "chimera_schedule_runs", "Scheduled job runs", ("schedule",), registry=r
        )

    def serve(self, port: int, addr: str = "127.0.0.1") -> None:
        """Expose ``/metrics`` on ``addr:port`` from a background thread."""
        start_http_server(port, addr=addr, registry=self.registry)
