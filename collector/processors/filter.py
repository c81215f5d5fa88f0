"""The ``filter`` processor with Go's match-property form: drop the spans, log records and metrics that
``include`` does not match or ``exclude`` does (``spans:``, ``logs:``, ``metrics:``).

The properties are ``item_matching``'s, under the filter processor's own names where Go gives it others
(logs: ``resource_attributes``, ``record_attributes`` — any one of them matching —, ``severity_texts``,
``severity_number``, ``bodies``; metrics: ``metric_names``, ``resource_attributes``).  Go's OTTL form
(``traces.span``, ``logs.log_record``, ``metrics.metric``, ...) and the ``expr`` match type are refused
by ``validate``: this collector has no OTTL.  Spans are read through a view declaring only what matching
reads; an emptied scope or resource is removed; a request left empty succeeds without going further,
as Go's.  What is dropped is counted in ``otelcol_processor_filter_{spans,logs,datapoints}_filtered``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..component import Component, ComponentConfig, ConfigError, Factory
from ..consumer import SIGNALS, Batch
from ..item_matching import AttributeMatch, MatchProperties, SeverityNumberMatch, attributes_matcher, matcher
from ..partial_otlp import trace_request_view

__all__ = ["FACTORY", "FilterProcessorConfig", "FilterProcessor"]

_SpanMatchRequest = trace_request_view(frozenset({"attributes", "name", "kind"}), with_envelopes=True)
_POINT_KINDS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")
_NO_OTTL = (
    "Go's OTTL conditions are not supported here: use include / exclude match properties "
    "(match_type, services, span_names, attributes, ...)"
)


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


@dataclass
class LogFilters(ComponentConfig):
    include: LogMatchProperties | None = None  # keep only the records these match
    exclude: LogMatchProperties | None = None  # and drop the ones these match
    log_record: list[str] = field(default_factory=list)  # OTTL: refused

    def validate(self) -> None:
        if self.log_record:
            raise ConfigError("log_record", _NO_OTTL)


@dataclass
class MetricFilters(ComponentConfig):
    include: MetricMatchProperties | None = None  # keep only the metrics these match
    exclude: MetricMatchProperties | None = None  # and drop the ones these match
    metric: list[str] = field(default_factory=list)  # OTTL: refused
    datapoint: list[str] = field(default_factory=list)  # OTTL: refused

    def validate(self) -> None:
        for key in ("metric", "datapoint"):
            if getattr(self, key):
                raise ConfigError(key, _NO_OTTL)


@dataclass
class TraceConditions(ComponentConfig):
    span: list[str] = field(default_factory=list)  # OTTL: refused
    spanevent: list[str] = field(default_factory=list)  # OTTL: refused

    def validate(self) -> None:
        for key in ("span", "spanevent"):
            if getattr(self, key):
                raise ConfigError(key, _NO_OTTL)


@dataclass
class FilterProcessorConfig(ComponentConfig):
    error_mode: str = "propagate"  # accepted (Go's OTTL error handling; matching here cannot fail)
    spans: SpanFilters = field(default_factory=SpanFilters)
    logs: LogFilters = field(default_factory=LogFilters)
    metrics: MetricFilters = field(default_factory=MetricFilters)
    traces: TraceConditions = field(default_factory=TraceConditions)  # Go's OTTL form: refused

    def validate(self) -> None:
        if self.error_mode not in ("propagate", "ignore", "silent"):
            raise ConfigError("error_mode", "must be propagate, ignore or silent")

    def validate_signal(self, signal: str) -> None:
        section = self.spans if signal == "traces" else (self.logs if signal == "logs" else self.metrics)
        if section.include is None and section.exclude is None:
            key = {"traces": "spans"}.get(signal, signal)
            raise ConfigError(key, f"a filter in a {signal} pipeline needs {key}.include or {key}.exclude")


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


class FilterProcessor(Component):
    def __init__(self, settings, config: FilterProcessorConfig, next_consumer):
        self._next = next_consumer
        self._signal = settings.signal
        label = str(settings.id)
        items = {"traces": "spans", "logs": "logs", "metrics": "datapoints"}[self._signal]
        counter = settings.telemetry.counter(
            f"otelcol_processor_filter_{items}_filtered",
            f"Number of {items} dropped by the filter processor",
            ["filter"],
        )
        self._dropped = counter.labels(label)
        if self._signal == "traces":
            spans = config.spans
            self._keep = _keep(
                matcher(spans.include) if spans.include else None, matcher(spans.exclude) if spans.exclude else None
            )
        elif self._signal == "logs":
            self._keep = _keep(_log_matcher(config.logs.include), _log_matcher(config.logs.exclude))
        else:
            m = config.metrics
            self._keep = _keep(
                matcher(m.include.as_match_properties()) if m.include else None,
                matcher(m.exclude.as_match_properties()) if m.exclude else None,
            )

    async def consume(self, batch: Batch) -> None:
        keep, dropped, kept = self._keep, 0, 0
        if self._signal == "traces":
            message = _SpanMatchRequest.FromString(batch.to_bytes())
            resources = message.resource_spans
            for ri in range(len(resources) - 1, -1, -1):
                rs = resources[ri]
                for si in range(len(rs.scope_spans) - 1, -1, -1):
                    ss = rs.scope_spans[si]
                    spans = ss.spans
                    for i in range(len(spans) - 1, -1, -1):
                        if not keep(resource=rs.resource, scope=ss.scope, span=spans[i]):
                            del spans[i]
                            dropped += 1
                    kept += len(spans)
                    if not len(spans):
                        del rs.scope_spans[si]
                if not len(rs.scope_spans):
                    del resources[ri]
        elif self._signal == "logs":
            message = batch.request_class.FromString(batch.to_bytes())
            resources = message.resource_logs
            for ri in range(len(resources) - 1, -1, -1):
                rl = resources[ri]
                for si in range(len(rl.scope_logs) - 1, -1, -1):
                    sl = rl.scope_logs[si]
                    records = sl.log_records
                    for i in range(len(records) - 1, -1, -1):
                        if not keep(resource=rl.resource, scope=sl.scope, record=records[i]):
                            del records[i]
                            dropped += 1
                    kept += len(records)
                    if not len(records):
                        del rl.scope_logs[si]
                if not len(rl.scope_logs):
                    del resources[ri]
        else:
            message = batch.request_class.FromString(batch.to_bytes())
            resources = message.resource_metrics
            for ri in range(len(resources) - 1, -1, -1):
                rm = resources[ri]
                for si in range(len(rm.scope_metrics) - 1, -1, -1):
                    sm = rm.scope_metrics[si]
                    metrics = sm.metrics
                    for i in range(len(metrics) - 1, -1, -1):
                        kind = metrics[i].WhichOneof("data")
                        points = len(getattr(metrics[i], kind).data_points) if kind in _POINT_KINDS else 0
                        if keep(resource=rm.resource, scope=sm.scope, metric=metrics[i]):
                            kept += points
                        else:
                            del metrics[i]
                            dropped += points
                    if not len(metrics):
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


def _create(settings, config: FilterProcessorConfig, next_consumer) -> FilterProcessor:
    return FilterProcessor(settings, config, next_consumer)


FACTORY = Factory(kind="processor", type="filter", config_class=FilterProcessorConfig, create=_create, signals=SIGNALS)
