"""The collector's own metrics, with the OpenTelemetry Collector's names.

One ``Telemetry`` per collector instance, each with its own Prometheus
registry (so several collectors in one test process do not clash).  Served on
127.0.0.1:8888/metrics by default.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric

disable_created_metrics()  # the Go collector exposes no *_created series

__all__ = ["Telemetry", "ResourceExposition", "collector_resource"]


_ITEMS = {"traces": "spans", "metrics": "metric_points", "logs": "log_records"}  # = Batch.items


class Telemetry:
    """The per-signal counters are dicts by signal name (``receiver_accepted["metrics"]`` is
    ``otelcol_receiver_accepted_metric_points``); the traces ones keep their own attribute
    names too (``receiver_accepted_spans``)."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry

        def per_signal(name: str, doc: str, labels: list[str]) -> dict[str, Counter]:
            out = {}
            for signal, items in _ITEMS.items():
                text = doc.format(items=items.replace("_", " "))
                out[signal] = Counter(name.format(items=items), text[0].upper() + text[1:], labels, registry=r)
            return out

        # receivers
        receiver = ["receiver", "transport"]
        self.receiver_accepted = per_signal(
            "otelcol_receiver_accepted_{items}", "{items} successfully pushed into the pipeline.", receiver
        )
        self.receiver_refused = per_signal(
            "otelcol_receiver_refused_{items}", "{items} that could not be pushed into the pipeline.", receiver
        )
        self.receiver_failed = per_signal(
            "otelcol_receiver_failed_{items}", "{items} that failed to be processed by the receiver.", receiver
        )
        self.receiver_accepted_spans = self.receiver_accepted["traces"]
        self.receiver_refused_spans = self.receiver_refused["traces"]
        self.receiver_failed_spans = self.receiver_failed["traces"]
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
        self.exporter_sent = per_signal(
            "otelcol_exporter_sent_{items}", "{items} successfully sent to the destination.", ["exporter"]
        )
        self.exporter_send_failed = per_signal(
            "otelcol_exporter_send_failed_{items}",
            "{items} the exporter failed to send.",
            ["exporter", "error_permanent"],
        )
        self.exporter_enqueue_failed = per_signal(
            "otelcol_exporter_enqueue_failed_{items}",
            "{items} that failed to be added to the sending queue.",
            ["exporter"],
        )
        self.exporter_sent_spans = self.exporter_sent["traces"]
        self.exporter_send_failed_spans = self.exporter_send_failed["traces"]
        self.exporter_enqueue_failed_spans = self.exporter_enqueue_failed["traces"]
        # one exporter id has a queue per signal (Go labels them with data_type)
        self.exporter_queue_size = Gauge(
            "otelcol_exporter_queue_size",
            "Current size of the retry queue (in batches).",
            ["exporter", "data_type"],
            registry=r,
        )
        self.exporter_queue_capacity = Gauge(
            "otelcol_exporter_queue_capacity",
            "Fixed capacity of the retry queue (in batches).",
            ["exporter", "data_type"],
            registry=r,
        )
        self.exporter_in_flight_requests = Gauge(
            "otelcol_exporter_in_flight_requests",
            "Requests currently being sent.",
            ["exporter", "data_type"],
            registry=r,
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


def collector_resource(configured: dict[str, str | None]) -> dict[str, str]:
    """The collector's own resource: Go's defaults (``service.name``, ``service.version``, a random
    ``service.instance.id``) under ``service.telemetry.resource``, where ``null`` removes one."""
    from otel_lite.version import __version__

    resource: dict[str, str] = {
        "service.name": "otel-lite-collector",
        "service.version": __version__,
        "service.instance.id": str(uuid.uuid4()),
    }
    for key, value in configured.items():
        if value is None:
            resource.pop(key, None)
        else:
            resource[key] = str(value)
    return resource


def _label_name(key: str) -> str:
    """A resource attribute as a Prometheus label (``service.name`` → ``service_name``)."""
    name = re.sub(r"[^a-zA-Z0-9_]", "_", key)
    return "_" + name if name[:1].isdigit() else name


class ResourceExposition:
    """What /metrics serves: the collector's registry with ``target_info`` (every resource attribute) and
    the attributes the config names as labels on every series (as Go adds its resource's).  Applied at
    scrape time: nothing is added on the data path."""

    def __init__(self, inner: CollectorRegistry, resource: dict[str, str], every_series: dict[str, str]):
        self.inner = inner
        self.info = {_label_name(k): v for k, v in resource.items()}
        self.labels = {_label_name(k): v for k, v in every_series.items()}

    def collect(self) -> Iterator[Metric]:
        target = GaugeMetricFamily(
            "target_info", "Target metadata (the collector's own resource).", labels=list(self.info)
        )
        target.add_metric(list(self.info.values()), 1.0)
        yield target
        for family in self.inner.collect():
            if self.labels:
                copy = Metric(family.name, family.documentation, family.type, family.unit)
                copy.samples = [s._replace(labels={**self.labels, **s.labels}) for s in family.samples]
                family = copy
            yield family

    def registry(self) -> CollectorRegistry:
        out = CollectorRegistry(auto_describe=False)
        out.register(self)  # a collector: it has collect()
        return out
