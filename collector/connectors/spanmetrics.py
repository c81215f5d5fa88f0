"""The ``spanmetrics`` connector: request, error and duration (RED) metrics from the spans a traces
pipeline exports to it, sent on to a metrics pipeline every ``metrics_flush_interval``, as Go's
``spanmetricsconnector`` makes them (what Jaeger's Monitor tab reads).

Per resource and per ``service.name``, ``span.name``, ``span.kind``, ``status.code`` and the configured
``dimensions`` (a span attribute, else a resource attribute, else the dimension's ``default``, else the
dimension is left out), it counts ``<namespace>.calls`` (a monotonic sum) and records
``<namespace>.duration`` (an explicit-bucket histogram, in ``ms`` or ``s``), cumulative by default (each
series from when it was first seen) or delta.  ``aggregation_cardinality_limit`` caps the series per
resource: beyond it, spans count in one series marked ``otel.metric.overflow``.  ``metrics_expiration``
forgets a series not seen for that long.  Spans are read through a partial view of the fields used;
nothing waits on the metrics pipeline when spans arrive.  Exemplars and span events are not produced.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from ..attribute_actions import scalar_value, set_any
from ..component import Component, ComponentConfig, ConfigError, Duration, Factory
from ..consumer import Batch, Metrics
from ..partial_otlp import trace_request_view

__all__ = ["FACTORY", "SpanMetricsConfig", "SpanMetricsConnector"]

log = logging.getLogger("otel_lite.collector.connector.spanmetrics")

_SPAN_FIELDS = frozenset({"name", "kind", "status", "start_time_unix_nano", "end_time_unix_nano", "attributes"})
_SpanView = trace_request_view(_SPAN_FIELDS, with_envelopes=True)
_KINDS = tuple(f"SPAN_KIND_{k}" for k in ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"))
_STATUS = ("STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR")
_TEMPORALITIES = {
    "AGGREGATION_TEMPORALITY_CUMULATIVE": AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE,
    "AGGREGATION_TEMPORALITY_DELTA": AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA,
}
# Go's default buckets, in milliseconds
_DEFAULT_BUCKETS_MS = (2, 4, 6, 8, 10, 50, 100, 200, 400, 800, 1000, 1400, 2000, 5000, 10_000, 15_000)
_OVERFLOW = (("otel.metric.overflow", True),)


@dataclass
class Dimension(ComponentConfig):
    name: str = ""  # a span attribute (else a resource attribute) to split the metrics by
    default: str | None = None  # the value when neither has it (none: the dimension is left out)

    def validate(self) -> None:
        if not self.name:
            raise ConfigError("name", "must be set")


@dataclass
class ExplicitBuckets(ComponentConfig):
    buckets: list[Duration] = field(default_factory=lambda: [Duration(ms / 1000) for ms in _DEFAULT_BUCKETS_MS])

    def validate(self) -> None:
        if list(self.buckets) != sorted(set(self.buckets)):
            raise ConfigError("buckets", "must be increasing, without repeats")


@dataclass
class HistogramConfig(ComponentConfig):
    disable: bool = False  # no duration histogram, only calls
    unit: str = "ms"  # ms or s
    explicit: ExplicitBuckets | None = None  # bucket boundaries (durations: 2ms, 1s, ...)
    exponential: Any = None  # Go's exponential histogram: not supported (refused)

    def validate(self) -> None:
        if self.unit not in ("ms", "s"):
            raise ConfigError("unit", "must be ms or s")
        if self.exponential is not None:
            raise ConfigError("exponential", "exponential histograms are not produced here: use explicit buckets")


@dataclass
class SwitchConfig(ComponentConfig):
    enabled: bool = False


@dataclass
class SpanMetricsConfig(ComponentConfig):
    namespace: str = "traces.span.metrics"  # prefix of the metric names
    dimensions: list[Dimension] = field(default_factory=list)  # beyond service.name, span.name/kind, status
    exclude_dimensions: list[str] = field(default_factory=list)  # of the four defaults, those to leave out
    histogram: HistogramConfig = field(default_factory=HistogramConfig)
    aggregation_temporality: str = "AGGREGATION_TEMPORALITY_CUMULATIVE"  # or AGGREGATION_TEMPORALITY_DELTA
    metrics_flush_interval: Duration = Duration(60.0)  # how often metrics go to the metrics pipeline
    metrics_expiration: Duration = Duration(0.0)  # forget a series not seen this long (0: never)
    aggregation_cardinality_limit: int = 0  # series per resource before the overflow series (0: no limit)
    resource_metrics_key_attributes: list[str] = field(default_factory=list)  # resource identity (all: empty)
    dimensions_cache_size: int = 1000  # accepted (Go deprecated it)
    resource_metrics_cache_size: int = 1000  # accepted
    exemplars: SwitchConfig = field(default_factory=SwitchConfig)  # not produced: enabled is refused
    events: SwitchConfig = field(default_factory=SwitchConfig)  # not produced: enabled is refused

    def validate(self) -> None:
        if self.aggregation_temporality not in _TEMPORALITIES:
            raise ConfigError("aggregation_temporality", f"must be one of {', '.join(_TEMPORALITIES)}")
        if self.metrics_flush_interval <= 0:
            raise ConfigError("metrics_flush_interval", "must be positive")
        if self.aggregation_cardinality_limit < 0:
            raise ConfigError("aggregation_cardinality_limit", "must not be negative")
        for key in ("exemplars", "events"):
            if getattr(self, key).enabled:
                raise ConfigError(f"{key}.enabled", f"{key} are not produced here: leave it false")
        builtin = ("service.name", "span.name", "span.kind", "status.code")
        for i, name in enumerate(self.exclude_dimensions):
            if name not in builtin:
                raise ConfigError(f"exclude_dimensions[{i}]", f"must be one of {', '.join(builtin)}")
        seen = set(builtin)
        for i, dim in enumerate(self.dimensions):
            if dim.name in seen:
                raise ConfigError(f"dimensions[{i}].name", f"{dim.name!r} is already a dimension")
            seen.add(dim.name)


class _Series:
    __slots__ = ("calls", "counts", "sum", "start", "last_seen")

    def __init__(self, buckets: int, start: int):
        self.calls = 0
        self.counts = [0] * (buckets + 1)
        self.sum = 0.0
        self.start = start
        self.last_seen = start


class SpanMetricsConnector(Component):
    def __init__(self, settings, config: SpanMetricsConfig, next_consumer):
        self.signal = settings.signal
        self._next = next_consumer
        self._config = config
        scale = 1000.0 if config.histogram.unit == "ms" else 1.0
        bounds = config.histogram.explicit.buckets if config.histogram.explicit else ExplicitBuckets().buckets
        self._bounds = [float(b) * scale for b in bounds]
        self._to_unit = scale / 1e9  # nanoseconds -> the histogram's unit
        self._excluded = set(config.exclude_dimensions)
        self._dimensions = [(d.name, d.default) for d in config.dimensions]
        self._delta = config.aggregation_temporality == "AGGREGATION_TEMPORALITY_DELTA"
        self._limit = config.aggregation_cardinality_limit
        # resource key -> (resource attributes, {series key: _Series})
        self._resources: dict[tuple, tuple[tuple, dict[tuple, _Series]]] = {}
        self._last_flush = time.time_ns()
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        tel = settings.telemetry
        self._flush_failed = tel.counter(
            "otelcol_connector_spanmetrics_flush_failed", "metric flushes the metrics pipeline refused", ["connector"]
        ).labels(str(settings.id))

    async def start(self, host) -> None:
        self._task = asyncio.create_task(self._run(), name="spanmetrics flush")

    async def shutdown(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            await self.flush()  # what the last interval gathered

    async def _run(self) -> None:
        interval = float(self._config.metrics_flush_interval)
        while True:
            await asyncio.sleep(interval)
            await self.flush()

    async def consume(self, batch: Batch) -> None:
        view = _SpanView.FromString(batch.to_bytes())
        now = time.time_ns()
        key_attributes = self._config.resource_metrics_key_attributes
        for rs in view.resource_spans:
            resource = {kv.key: scalar_value(kv.value) for kv in rs.resource.attributes}
            attrs = tuple(sorted((k, v) for k, v in resource.items() if v is not None))
            rkey = tuple(a for a in attrs if a[0] in key_attributes) if key_attributes else attrs
            entry = self._resources.get(rkey)
            if entry is None:
                entry = self._resources[rkey] = (attrs, {})
            series = entry[1]
            service = resource.get("service.name", "")
            for ss in rs.scope_spans:
                for span in ss.spans:
                    key = self._series_key(service, span, resource)
                    s = series.get(key)
                    if s is None:
                        if self._limit and len(series) >= self._limit:
                            key = _OVERFLOW
                            s = series.get(key)
                        if s is None:
                            s = series[key] = _Series(len(self._bounds), self._last_flush if self._delta else now)
                    duration = max(0, span.end_time_unix_nano - span.start_time_unix_nano) * self._to_unit
                    s.calls += 1
                    s.sum += duration
                    s.counts[bisect.bisect_left(self._bounds, duration)] += 1
                    s.last_seen = now

    def _series_key(self, service: str, span, resource: dict) -> tuple:
        excluded = self._excluded
        key: list[tuple[str, Any]] = []
        if "service.name" not in excluded:
            key.append(("service.name", service))
        if "span.name" not in excluded:
            key.append(("span.name", span.name))
        if "span.kind" not in excluded:
            key.append(("span.kind", _KINDS[span.kind] if 0 <= span.kind < len(_KINDS) else str(span.kind)))
        if "status.code" not in excluded:
            code = span.status.code
            key.append(("status.code", _STATUS[code] if 0 <= code < len(_STATUS) else str(code)))
        if self._dimensions:
            found = {kv.key: kv.value for kv in span.attributes}
            for name, default in self._dimensions:
                value = scalar_value(found[name]) if name in found else resource.get(name, default)
                if value is not None:
                    key.append((name, value))
        return tuple(key)

    def _request(self, now: int) -> tuple[ExportMetricsServiceRequest, int]:
        """The metrics of every series (resetting them when delta); (request, data points)."""
        cfg = self._config
        request = ExportMetricsServiceRequest()
        points = 0
        temporality = _TEMPORALITIES[cfg.aggregation_temporality]
        expiration = int(cfg.metrics_expiration * 1e9)
        for rkey, (attrs, series) in list(self._resources.items()):
            if expiration:
                for key in [k for k, s in series.items() if now - s.last_seen > expiration]:
                    del series[key]
            if not series:
                del self._resources[rkey]
                continue
            rm = request.resource_metrics.add()
            for k, v in attrs:
                set_any(rm.resource.attributes.add(key=k).value, v)
            sm = rm.scope_metrics.add()
            sm.scope.name = "spanmetricsconnector"
            calls = sm.metrics.add(name=f"{cfg.namespace}.calls")
            calls.sum.aggregation_temporality = temporality
            calls.sum.is_monotonic = True
            histogram = None
            if not cfg.histogram.disable:
                histogram = sm.metrics.add(name=f"{cfg.namespace}.duration", unit=cfg.histogram.unit)
                histogram.histogram.aggregation_temporality = temporality
            for key, s in series.items():
                point = calls.sum.data_points.add(as_int=s.calls, start_time_unix_nano=s.start, time_unix_nano=now)
                for k, v in key:
                    set_any(point.attributes.add(key=k).value, v)
                points += 1
                if histogram is not None:
                    h = histogram.histogram.data_points.add(
                        count=s.calls, sum=s.sum, start_time_unix_nano=s.start, time_unix_nano=now
                    )
                    h.explicit_bounds.extend(self._bounds)
                    h.bucket_counts.extend(s.counts)
                    h.attributes.extend(point.attributes)
                    points += 1
            if self._delta:
                self._resources[rkey] = (attrs, {})
        return request, points

    async def flush(self) -> None:
        async with self._lock:
            now = time.time_ns()
            request, points = self._request(now)
            self._last_flush = now
        if not points:
            return
        try:
            await self._next.consume(Metrics(request, None, points))
        except Exception as e:  # the metrics pipeline refused: cumulative series resend their totals next time
            self._flush_failed.inc()
            log.warning("span metrics not accepted by the metrics pipeline: %s (data points: %d)", e, points)


FACTORY = Factory(
    kind="connector",
    type="spanmetrics",
    config_class=SpanMetricsConfig,
    create=lambda settings, config, next_consumer: SpanMetricsConnector(settings, config, next_consumer),
    stability="beta",
    signals=("traces", "metrics"),
    connects=(("traces", "metrics"),),
)
