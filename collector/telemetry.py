"""The collector's own metrics, with the OpenTelemetry Collector's names.

One ``Telemetry`` per collector instance, each with its own Prometheus
registry (so several collectors in one test process do not clash).  Served on
127.0.0.1:8888/metrics by default.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()  # the Go collector exposes no *_created series

__all__ = ["Telemetry"]


class Telemetry:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        # receivers
        self.receiver_accepted_spans = Counter(
            "otelcol_receiver_accepted_spans",
            "Spans successfully pushed into the pipeline.",
            ["receiver", "transport"],
            registry=r,
        )
        self.receiver_refused_spans = Counter(
            "otelcol_receiver_refused_spans",
            "Spans that could not be pushed into the pipeline.",
            ["receiver", "transport"],
            registry=r,
        )
        self.receiver_failed_spans = Counter(
            "otelcol_receiver_failed_spans",
            "Spans that failed to be processed by the receiver (bad input).",
            ["receiver", "transport"],
            registry=r,
        )
        self.receiver_requests = Counter(
            "otelcol_receiver_requests",
            "Requests received, by outcome.",
            ["receiver", "transport", "outcome"],
            registry=r,
        )
        # processors
        self.processor_incoming_items = Counter(
            "otelcol_processor_incoming_items",
            "Items passed to the processor.",
            ["processor", "otel_signal"],
            registry=r,
        )
        self.processor_outgoing_items = Counter(
            "otelcol_processor_outgoing_items",
            "Items emitted by the processor.",
            ["processor", "otel_signal"],
            registry=r,
        )
        # exporters
        self.exporter_sent_spans = Counter(
            "otelcol_exporter_sent_spans", "Spans successfully sent to the destination.", ["exporter"], registry=r
        )
        self.exporter_send_failed_spans = Counter(
            "otelcol_exporter_send_failed_spans",
            "Spans the exporter failed to send.",
            ["exporter", "error_permanent"],
            registry=r,
        )
        self.exporter_enqueue_failed_spans = Counter(
            "otelcol_exporter_enqueue_failed_spans",
            "Spans that failed to be added to the sending queue.",
            ["exporter"],
            registry=r,
        )
        self.exporter_queue_size = Gauge(
            "otelcol_exporter_queue_size", "Current size of the retry queue (in batches).", ["exporter"], registry=r
        )
        self.exporter_queue_capacity = Gauge(
            "otelcol_exporter_queue_capacity",
            "Fixed capacity of the retry queue (in batches).",
            ["exporter"],
            registry=r,
        )
        self.exporter_in_flight_requests = Gauge(
            "otelcol_exporter_in_flight_requests", "Requests currently being sent.", ["exporter"], registry=r
        )

    # Component-specific metrics (batch, memory_limiter, tail sampling) are
    # created by their components through these helpers, so names stay in one style.
    def counter(self, name: str, doc: str, labels: list[str]) -> Counter:
        return self._get_or_create(Counter, name, doc, labels)

    def gauge(self, name: str, doc: str, labels: list[str]) -> Gauge:
        return self._get_or_create(Gauge, name, doc, labels)

    def histogram(self, name: str, doc: str, labels: list[str], buckets=None) -> Histogram:
        kw = {"buckets": buckets} if buckets else {}
        return self._get_or_create(Histogram, name, doc, labels, **kw)

    def _get_or_create(self, cls, name, doc, labels, **kw):
        existing = self.registry._names_to_collectors.get(name)  # re-created components share the metric
        if existing is not None:
            return existing
        return cls(name, doc, labels, registry=self.registry, **kw)
