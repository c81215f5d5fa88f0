"""The ``count`` connector: how many spans, span events, metrics, data points and log records a pipeline
exports to it, as delta sums into a metrics pipeline, as Go's ``countconnector`` counts them.

With no settings it counts everything under Go's names (``trace.span.count``, ``trace.span.event.count``,
``metric.count``, ``metric.datapoint.count``, ``log.record.count``); under ``spans``, ``spanevents``,
``metrics``, ``datapoints`` or ``logs`` each named metric counts the items any of its OTTL ``conditions``
holds for (all of them without conditions), split by its ``attributes`` (a key, with ``default_value``
when an item lacks it).  Each batch becomes one metrics request, per resource, sent on at once: the
exporting pipeline is answered when the metrics pipeline took it, as in Go.  Conditions on span events are
not supported (they count without conditions).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from ..attribute_actions import scalar_value, set_any
from ..component import Component, ComponentConfig, ConfigError, Factory
from ..consumer import Batch, Metrics
from ..ottl import OTTLError, compile_condition

__all__ = ["FACTORY", "CountConfig", "CountConnector"]

_SCOPE = "github.com/open-telemetry/opentelemetry-collector-contrib/connector/countconnector"
# item kind -> (Go's default metric, its description, the OTTL context of its conditions, the input signal)
_KINDS = {
    "spans": ("trace.span.count", "The number of spans observed.", "span", "traces"),
    "spanevents": ("trace.span.event.count", "The number of span events observed.", None, "traces"),
    "metrics": ("metric.count", "The number of metrics observed.", "metric", "metrics"),
    "datapoints": ("metric.datapoint.count", "The number of data points observed.", "datapoint", "metrics"),
    "logs": ("log.record.count", "The number of log records observed.", "log", "logs"),
}


@dataclass
class CountAttribute(ComponentConfig):
    key: str = ""  # an attribute of the item (else of its resource) to split the count by
    default_value: Any = None  # its value when the item lacks it (none: such items are not counted)

    def validate(self) -> None:
        if not self.key:
            raise ConfigError("key", "must be set")


@dataclass
class CountMetric(ComponentConfig):
    description: str = ""
    conditions: list[str] = field(default_factory=list)  # OTTL: count the items any of them holds for
    attributes: list[CountAttribute] = field(default_factory=list)


@dataclass
class CountConfig(ComponentConfig):
    spans: dict[str, CountMetric] = field(default_factory=dict)  # metric name -> what it counts
    spanevents: dict[str, CountMetric] = field(default_factory=dict)
    metrics: dict[str, CountMetric] = field(default_factory=dict)
    datapoints: dict[str, CountMetric] = field(default_factory=dict)
    logs: dict[str, CountMetric] = field(default_factory=dict)

    def validate(self) -> None:
        for kind, (_, _, context, _) in _KINDS.items():
            for name, metric in getattr(self, kind).items():
                if context is None and metric.conditions:
                    raise ConfigError(f"{kind}.{name}.conditions", "conditions on span events are not supported here")
                for i, text in enumerate(metric.conditions):
                    try:
                        compile_condition(text, context or "span")
                    except OTTLError as e:
                        raise ConfigError(f"{kind}.{name}.conditions[{i}]", str(e)) from None

    def counted(self, kind: str) -> dict[str, CountMetric]:
        """What ``kind`` is counted as: the configured metrics, else Go's default one."""
        configured = getattr(self, kind)
        if configured:
            return configured
        name, description, _, _ = _KINDS[kind]
        return {name: CountMetric(description=description)}


class _Counter:
    def __init__(self, name: str, metric: CountMetric, context: str | None):
        self.name = name
        self.description = metric.description
        self.conditions = [compile_condition(c, context) for c in metric.conditions] if context else []
        self.attributes = [(a.key, a.default_value) for a in metric.attributes]

    def key(self, item: dict, owner) -> tuple | None:
        """The attribute values this item counts under, or None when it is not counted."""
        if self.conditions and not any(c(item) for c in self.conditions):
            return None
        if not self.attributes:
            return ()
        values = {kv.key: kv.value for kv in owner.attributes} if owner is not None else {}
        resource = {kv.key: kv.value for kv in item["resource"].attributes}
        out = []
        for key, default in self.attributes:
            found = values.get(key)
            if found is None:
                found = resource.get(key)
            value = scalar_value(found) if found is not None else default
            if value is None:
                return None
            out.append((key, value))
        return tuple(out)


def _items(signal: str, message) -> Iterator[tuple[Any, str, dict, Any]]:
    """(resource, kind, OTTL item, the message whose attributes split the count) of every item."""
    if signal == "traces":
        for rs in message.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    item = {"resource": rs.resource, "scope": ss.scope, "span": span}
                    yield rs.resource, "spans", item, span
                    for event in span.events:
                        yield rs.resource, "spanevents", item, event
    elif signal == "logs":
        for rl in message.resource_logs:
            for sl in rl.scope_logs:
                for record in sl.log_records:
                    yield rl.resource, "logs", {"resource": rl.resource, "scope": sl.scope, "record": record}, record
    else:
        for rm in message.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    item = {"resource": rm.resource, "scope": sm.scope, "metric": metric}
                    yield rm.resource, "metrics", item, None
                    kind = metric.WhichOneof("data")
                    for point in getattr(metric, kind).data_points if kind else ():
                        yield rm.resource, "datapoints", {**item, "point": point}, point


class CountConnector(Component):
    def __init__(self, settings, config: CountConfig, next_consumer):
        self.signal = settings.signal
        self._next = next_consumer
        kinds = [k for k, (_, _, _, signal) in _KINDS.items() if signal == self.signal]
        self._counters: dict[str, list[_Counter]] = {
            kind: [_Counter(name, m, _KINDS[kind][2]) for name, m in config.counted(kind).items()] for kind in kinds
        }

    async def consume(self, batch: Batch) -> None:
        message = batch.request_class.FromString(batch.to_bytes())
        # resource bytes -> (resource, {(metric name, attribute values): count})
        counts: dict[bytes, tuple[Any, dict[tuple[str, tuple], int]]] = {}
        counted: Callable[[str], list[_Counter]] = self._counters.__getitem__
        for resource, kind, item, owner in _items(self.signal, message):
            bucket = counts.setdefault(resource.SerializeToString(), (resource, {}))[1]
            for counter in counted(kind):
                key = counter.key(item, owner)
                if key is not None:
                    bucket[(counter.name, key)] = bucket.get((counter.name, key), 0) + 1
        request, points = self._request(counts)
        if points:
            await self._next.consume(Metrics(request, None, points))

    def _request(self, counts: dict) -> tuple[ExportMetricsServiceRequest, int]:
        now = time.time_ns()
        descriptions = {c.name: c.description for counters in self._counters.values() for c in counters}
        request, points = ExportMetricsServiceRequest(), 0
        for resource, series in counts.values():
            if not series:
                continue
            rm = request.resource_metrics.add()
            rm.resource.CopyFrom(resource)
            sm = rm.scope_metrics.add()
            sm.scope.name = _SCOPE
            metrics: dict[str, Any] = {}
            for (name, key), value in series.items():
                metric = metrics.get(name)
                if metric is None:
                    metric = metrics[name] = sm.metrics.add(name=name, description=descriptions.get(name, ""))
                    metric.sum.is_monotonic = True
                    metric.sum.aggregation_temporality = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
                point = metric.sum.data_points.add(as_int=value, time_unix_nano=now)
                for k, v in key:
                    set_any(point.attributes.add(key=k).value, v)
                points += 1
        return request, points


FACTORY = Factory(
    kind="connector",
    type="count",
    config_class=CountConfig,
    create=lambda settings, config, next_consumer: CountConnector(settings, config, next_consumer),
    stability="beta",
    signals=("traces", "metrics", "logs"),
    connects=(("traces", "metrics"), ("metrics", "metrics"), ("logs", "metrics")),
)
