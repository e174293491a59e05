"""Worker metrics in Prometheus form: counts, handler latency, lag and pending age per stream."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

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
        self.latency = LatencyHistogram(
            "chimera_handler_seconds", "Handler latency", _LATENCY_BUCKETS, registry=r
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
        self.config_reloads = Counter(
            "chimera_config_reloads",
            "Config loads by outcome (changed, unchanged, failed)",
            ("outcome",),
            registry=r,
        )

    def serve(self, port: int, addr: str = "127.0.0.1") -> None:
        """Expose ``/metrics`` on ``addr:port`` from a background thread."""
        start_http_server(port, addr=addr, registry=self.registry)


class HistogramSeries:
    """One binding's bucket counts; ``observe`` is a bisect and two additions."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        """Count one observation of ``seconds``."""
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.total += seconds

    def observe_below_first(self, count: int, seconds: float) -> None:
        """Count ``count`` observations, each at most ``bounds[0]``, summing to ``seconds``.

        A hot loop tallies its fast observations in locals and hands them over here once,
        instead of a call, a bisect and two additions per message.
        """
        self.counts[0] += count
        self.total += seconds


class LatencyHistogram(Collector):
    """A Prometheus histogram labelled by binding, cheap enough for every message.

    prometheus_client's ``Histogram.observe`` takes a lock and updates two values per call;
    the worker's event loop is single-threaded, so plain counts are exact here. The exporter
    thread reads them as they are (a scrape may see one observation half-added).
    """

    def __init__(
        self, name: str, doc: str, buckets: tuple[float, ...], registry: CollectorRegistry
    ) -> None:
        self._name, self._doc, self._bounds = name, doc, tuple(buckets)
        self._series: dict[str, HistogramSeries] = {}
        registry.register(self)

    def labels(self, binding: str) -> HistogramSeries:
        """Return the series of ``binding``, creating it on first use."""
        series = self._series.get(binding)
        if series is None:
            series = self._series[binding] = HistogramSeries(self._bounds)
        return series

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self._name, self._doc, labels=["binding"])
        for binding, series in list(self._series.items()):
            cumulative, buckets = 0, []
            for bound, count in zip((*self._bounds, float("inf")), series.counts, strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            family.add_metric([binding], buckets, sum_value=series.total)
        yield family
