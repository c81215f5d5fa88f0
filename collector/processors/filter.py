"""The ``filter`` processor: drop the spans, log records, metrics and data points that Go's conditions
say to drop, in either of Go's two forms.

- OTTL conditions (``traces.span``, ``logs.log_record``, ``metrics.metric``, ``metrics.datapoint``):
  an item any condition holds for is dropped; the conditions are ``ottl``'s subset, checked by
  ``validate``; ``error_mode`` says what a condition failing on an item does.
- Match properties (``spans:``, ``logs:``, ``metrics:`` with ``include`` and ``exclude``): ``item_matching``'s,
  under the names Go's filter processor gives them (logs: ``resource_attributes``, ``record_attributes`` —
  any one of them matching —, ``severity_texts``, ``severity_number``, ``bodies``; metrics:
  ``metric_names``, ``resource_attributes``); Go's ``expr`` match type is refused.

Spans matched by properties are read through a view declaring only what matching reads (OTTL may read any
field: they are parsed whole).  An emptied scope or resource is removed; a request left empty succeeds
without going further, as Go's.  What is dropped is counted in
``otelcol_processor_filter_{spans,logs,datapoints}_filtered``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..component import Component, ComponentConfig, ConfigError, Factory
from ..consumer import SIGNALS, Batch, PermanentError
from ..item_matching import AttributeMatch, MatchProperties, SeverityNumberMatch, attributes_matcher, matcher
from ..ottl import OTTLError, compile_condition
from ..partial_otlp import trace_request_view

__all__ = ["FACTORY", "FilterProcessorConfig", "FilterProcessor"]

_SpanMatchRequest = trace_request_view(frozenset({"attributes", "name", "kind"}), with_envelopes=True)
_POINT_KINDS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")


@dataclass
class LogMatchProperties(ComponentConfig):
    match_type: str = ""  # strict or regexp
    resource_attributes: list[AttributeMatch] = field(default_factory=list)  # all must match
    record_attributes: list[AttributeMatch] = field(default_factory=list)  # any one matching is enough
    severity_texts: list[str] = field(default_factory=list)
    severity_number: SeverityNumberMatch | None = None
    bodies: list[str] = field(default_factory=list)

    def validate(self) -> None:
        if not any((self.resource_attributes, self.record_attributes, self.severity_texts, self.bodies)) and (
            self.severity_number is None
        ):
            raise ConfigError(
                "",
                "name at least one of resource_attributes, record_attributes, severity_texts, severity_number, bodies",
            )
        checked = self.as_match_properties()  # match_type and patterns checked there, record attributes too
        MatchProperties.from_mapping(
            {
                "match_type": checked.match_type,
                "attributes": [{"key": a.key, "value": a.value} for a in self.record_attributes],
            }
        )

    def as_match_properties(self) -> MatchProperties:
        return MatchProperties.from_mapping(
            {
                "match_type": self.match_type,
                "resources": [{"key": a.key, "value": a.value} for a in self.resource_attributes],
                "log_severity_texts": self.severity_texts,
                "log_bodies": self.bodies,
                "log_severity_number": None
                if self.severity_number is None
                else {"min": self.severity_number.min, "match_undefined": self.severity_number.match_undefined},
            }
        )


@dataclass
class MetricMatchProperties(ComponentConfig):
    match_type: str = ""  # strict or regexp (Go's expr is not supported)
    metric_names: list[str] = field(default_factory=list)
    resource_attributes: list[AttributeMatch] = field(default_factory=list)
    expressions: list[str] = field(default_factory=list)  # Go's expr language: refused
    regexp: Any = None  # cache options: accepted

    def validate(self) -> None:
        if self.match_type == "expr" or self.expressions:
            raise ConfigError("match_type", "Go's expr matching is not supported here (use strict or regexp)")
        if not self.metric_names and not self.resource_attributes:
            raise ConfigError("", "name at least one of metric_names, resource_attributes")
        self.as_match_properties()

    def as_match_properties(self) -> MatchProperties:
        return MatchProperties.from_mapping(
            {
                "match_type": self.match_type,
                "metric_names": self.metric_names,
                "resources": [{"key": a.key, "value": a.value} for a in self.resource_attributes],
            }
        )


@dataclass
class SpanFilters(ComponentConfig):
    include: MatchProperties | None = None  # keep only the spans these match
    exclude: MatchProperties | None = None  # and drop the ones these match

    def validate(self) -> None:
        for key in ("include", "exclude"):
            props = getattr(self, key)
            if props is not None:
                try:
                    props.check_signal("traces")
                except ConfigError as e:
                    raise ConfigError(f"{key}.{e.path}" if e.path else key, e.message) from None


def _check_conditions(conditions: list[str], context: str, key: str) -> None:
    for i, text in enumerate(conditions):
        try:
            compile_condition(text, context)
        except OTTLError as e:
            raise ConfigError(f"{key}[{i}]", str(e)) from None


@dataclass
class LogFilters(ComponentConfig):
    include: LogMatchProperties | None = None  # keep only the records these match
    exclude: LogMatchProperties | None = None  # and drop the ones these match
    log_record: list[str] = field(default_factory=list)  # OTTL conditions: a record any of them holds for is dropped

    def validate(self) -> None:
        _check_conditions(self.log_record, "log", "log_record")
        if self.log_record and (self.include is not None or self.exclude is not None):
            raise ConfigError("log_record", "OTTL conditions and include/exclude cannot be used together (as in Go)")


@dataclass
class MetricFilters(ComponentConfig):
    include: MetricMatchProperties | None = None  # keep only the metrics these match
    exclude: MetricMatchProperties | None = None  # and drop the ones these match
    metric: list[str] = field(default_factory=list)  # OTTL conditions: a metric any of them holds for is dropped
    datapoint: list[str] = field(default_factory=list)  # OTTL conditions on each data point

    def validate(self) -> None:
        _check_conditions(self.metric, "metric", "metric")
        _check_conditions(self.datapoint, "datapoint", "datapoint")
        if (self.metric or self.datapoint) and (self.include is not None or self.exclude is not None):
            raise ConfigError("metric", "OTTL conditions and include/exclude cannot be used together (as in Go)")


@dataclass
class TraceConditions(ComponentConfig):
    span: list[str] = field(default_factory=list)  # OTTL conditions: a span any of them holds for is dropped
    spanevent: list[str] = field(default_factory=list)  # Go's span event conditions: not supported

    def validate(self) -> None:
        _check_conditions(self.span, "span", "span")
        if self.spanevent:
            raise ConfigError("spanevent", "dropping span events is not supported here (conditions on spans are)")


@dataclass
class FilterProcessorConfig(ComponentConfig):
    error_mode: str = "propagate"  # a condition failing on an item: propagate refuses the data; ignore logs
    spans: SpanFilters = field(default_factory=SpanFilters)
    logs: LogFilters = field(default_factory=LogFilters)
    metrics: MetricFilters = field(default_factory=MetricFilters)
    traces: TraceConditions = field(default_factory=TraceConditions)  # OTTL conditions for spans

    def validate(self) -> None:
        if self.error_mode not in ("propagate", "ignore", "silent"):
            raise ConfigError("error_mode", "must be propagate, ignore or silent")
        if self.traces.span and (self.spans.include is not None or self.spans.exclude is not None):
            raise ConfigError("traces.span", "OTTL conditions and spans.include/exclude cannot be used together")

    def validate_signal(self, signal: str) -> None:
        if signal == "traces":
            ok = self.spans.include is not None or self.spans.exclude is not None or bool(self.traces.span)
            what = "spans.include, spans.exclude or traces.span"
        elif signal == "logs":
            ok = self.logs.include is not None or self.logs.exclude is not None or bool(self.logs.log_record)
            what = "logs.include, logs.exclude or logs.log_record"
        else:
            m = self.metrics
            ok = m.include is not None or m.exclude is not None or bool(m.metric or m.datapoint)
            what = "metrics.include, metrics.exclude, metrics.metric or metrics.datapoint"
        if not ok:
            key = {"traces": "spans"}.get(signal, signal)
            raise ConfigError(key, f"a filter in a {signal} pipeline needs {what}")


def _keep(include, exclude) -> Callable[..., bool]:
    def keep(**item) -> bool:
        return (include is None or include(**item)) and (exclude is None or not exclude(**item))

    return keep


def _log_matcher(props: LogMatchProperties | None):
    if props is None:
        return None
    base = matcher(props.as_match_properties()) if _has_base(props) else None
    strict = props.match_type == "strict"
    singles = [attributes_matcher(strict, [a]) for a in props.record_attributes]

    def match(**item) -> bool:
        if base is not None and not base(**item):
            return False
        return not singles or any(single(item["record"].attributes) for single in singles)

    return match


def _has_base(props: LogMatchProperties) -> bool:
    return bool(props.resource_attributes or props.severity_texts or props.bodies or props.severity_number)


def _any_of(conditions: list[str], context: str, error_mode: str, log) -> Callable[[dict], bool] | None:
    """True when any condition holds (the item is dropped); a condition that fails on an item raises under
    ``propagate`` and counts as false otherwise (logged under ``ignore``)."""
    if not conditions:
        return None
    compiled = [(text, compile_condition(text, context)) for text in conditions]

    def holds(item: dict) -> bool:
        for text, condition in compiled:
            try:
                if condition(item):
                    return True
            except Exception as e:  # a converter meeting a value it cannot take
                if error_mode == "propagate":
                    raise PermanentError(f"filter condition {text!r} failed: {e}") from None
                if error_mode == "ignore":
                    log.warning("filter condition failed; the item is kept: %s: %s", text, e)
        return False

    return holds


class FilterProcessor(Component):
    def __init__(self, settings, config: FilterProcessorConfig, next_consumer):
        self._next = next_consumer
        self._signal = settings.signal
        label = str(settings.id)
        items = {"traces": "spans", "logs": "logs", "metrics": "datapoints"}[self._signal]
        counter = settings.telemetry.counter(
            f"otelcol_processor_filter_{items}_filtered", f"{items} dropped by the filter processor", ["filter"]
        )
        self._dropped = counter.labels(label)
        mode, log = config.error_mode, settings.logger
        self._drop_point: Callable[[dict], bool] | None = None
        drop: Callable[[dict], bool] | None
        if self._signal == "traces":
            spans = config.spans
            drop = _any_of(config.traces.span, "span", mode, log)
            if drop is None:
                include = matcher(spans.include) if spans.include else None
                drop = _drop_unless(_keep(include, matcher(spans.exclude) if spans.exclude else None))
        elif self._signal == "logs":
            drop = _any_of(config.logs.log_record, "log", mode, log)
            if drop is None:
                drop = _drop_unless(_keep(_log_matcher(config.logs.include), _log_matcher(config.logs.exclude)))
        else:
            m = config.metrics
            drop = _any_of(m.metric, "metric", mode, log)
            self._drop_point = _any_of(m.datapoint, "datapoint", mode, log)
            if drop is None and self._drop_point is None:
                drop = _drop_unless(
                    _keep(
                        matcher(m.include.as_match_properties()) if m.include else None,
                        matcher(m.exclude.as_match_properties()) if m.exclude else None,
                    )
                )
        self._drop = drop
        # OTTL may read any field: parse spans whole; matching reads only what the view declares
        self._span_request = _SpanMatchRequest if not config.traces.span else None

    async def consume(self, batch: Batch) -> None:
        drop, dropped, kept = self._drop, 0, 0
        if self._signal == "traces":
            message = (self._span_request or batch.request_class).FromString(batch.to_bytes())
            resources = message.resource_spans
            kept, dropped = _drop_items(resources, "scope_spans", "spans", "span", drop)
        elif self._signal == "logs":
            message = batch.request_class.FromString(batch.to_bytes())
            resources = message.resource_logs
            kept, dropped = _drop_items(resources, "scope_logs", "log_records", "record", drop)
        else:
            message = batch.request_class.FromString(batch.to_bytes())
            resources = message.resource_metrics
            for ri in range(len(resources) - 1, -1, -1):
                rm = resources[ri]
                for si in range(len(rm.scope_metrics) - 1, -1, -1):
                    sm = rm.scope_metrics[si]
                    n_kept, n_dropped = self._filter_metrics(rm.resource, sm.scope, sm.metrics)
                    kept, dropped = kept + n_kept, dropped + n_dropped
                    if not len(sm.metrics):
                        del rm.scope_metrics[si]
                if not len(rm.scope_metrics):
                    del resources[ri]
        if dropped:
            self._dropped.inc(dropped)
        if not dropped:
            await self._next.consume(batch)
        elif len(resources):
            await self._next.consume(type(batch)(None, message.SerializeToString(), kept, batch.metadata))
        # else: everything was filtered out; the request succeeded (Go's ErrSkipProcessingData)

    def _filter_metrics(self, resource, scope, metrics) -> tuple[int, int]:
        """Drop the metrics (and data points) the conditions hold for: (points kept, points dropped)."""
        kept = dropped = 0
        drop, drop_point = self._drop, self._drop_point
        for i in range(len(metrics) - 1, -1, -1):
            metric = metrics[i]
            kind = metric.WhichOneof("data")
            points = getattr(metric, kind).data_points if kind in _POINT_KINDS else None
            n = len(points) if points is not None else 0
            if drop is not None and drop({"resource": resource, "scope": scope, "metric": metric}):
                del metrics[i]
                dropped += n
                continue
            if drop_point is not None and points is not None:
                for j in range(n - 1, -1, -1):
                    if drop_point({"resource": resource, "scope": scope, "metric": metric, "point": points[j]}):
                        del points[j]
                        dropped += 1
                if not len(points):
                    del metrics[i]
                    continue
            kept += len(points) if points is not None else 0
        return kept, dropped


def _drop_items(resources, scopes: str, items: str, key: str, drop) -> tuple[int, int]:
    """Delete the items ``drop`` says to, then the scopes and resources left empty: (kept, dropped)."""
    kept = dropped = 0
    for ri in range(len(resources) - 1, -1, -1):
        r = resources[ri]
        scope_list = getattr(r, scopes)
        for si in range(len(scope_list) - 1, -1, -1):
            s = scope_list[si]
            item_list = getattr(s, items)
            for i in range(len(item_list) - 1, -1, -1):
                if drop({"resource": r.resource, "scope": s.scope, key: item_list[i]}):
                    del item_list[i]
                    dropped += 1
            kept += len(item_list)
            if not len(item_list):
                del scope_list[si]
        if not len(scope_list):
            del resources[ri]
    return kept, dropped


def _drop_unless(keep: Callable[..., bool]) -> Callable[[dict], bool]:
    return lambda item: not keep(**item)


def _create(settings, config: FilterProcessorConfig, next_consumer) -> FilterProcessor:
    return FilterProcessor(settings, config, next_consumer)


FACTORY = Factory(kind="processor", type="filter", config_class=FilterProcessorConfig, create=_create, signals=SIGNALS)
