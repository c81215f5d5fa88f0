"""Debug exporter (type ``debug``): logs what reaches it.

``verbosity``: ``basic`` logs one summary line per batch (as Go's: resource
spans and spans; resource metrics, metrics and data points; resource logs and
log records), ``normal`` one line per span, metric or log record, ``detailed``
a full dump of every resource, scope, span, event and link (metrics and logs:
protobuf's text format of the request).  Lines are rate-limited like the Go
exporter's zap sampler: per second, the first ``sampling_initial`` batches
are logged, then every ``sampling_thereafter``-th.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from ..component import ComponentConfig, ConfigError, Factory
from ..consumer import SIGNALS, Batch, Traces
from .helper import Exporter, QueueConfig

__all__ = ["FACTORY", "DebugExporterConfig", "DebugExporter", "format_detailed"]

_VERBOSITY = ("basic", "normal", "detailed")


@dataclass
class DebugExporterConfig(ComponentConfig):
    verbosity: str = "basic"
    sampling_initial: int = 2
    sampling_thereafter: int = 1
    use_internal_logger: bool = True
    sending_queue: QueueConfig = field(default_factory=lambda: QueueConfig(enabled=False))

    def validate(self) -> None:
        if self.verbosity not in _VERBOSITY:
            raise ConfigError("verbosity", f"must be one of {', '.join(_VERBOSITY)}, got {self.verbosity!r}")
        if self.sampling_initial < 0:
            raise ConfigError("sampling_initial", "must not be negative")
        if self.sampling_thereafter < 0:
            raise ConfigError("sampling_thereafter", "must not be negative")


class _Sampler:
    """Per one-second tick: let the first ``initial`` through, then every ``thereafter``-th."""

    def __init__(self, initial: int, thereafter: int):
        self.initial = initial
        self.thereafter = thereafter
        self.tick = 0
        self.count = 0

    def allow(self) -> bool:
        now = int(time.monotonic())
        if now != self.tick:
            self.tick, self.count = now, 0
        self.count += 1
        if self.count <= self.initial:
            return True
        return self.thereafter > 0 and (self.count - self.initial) % self.thereafter == 0


def _any_value(v) -> str:
    kind = v.WhichOneof("value")
    if kind is None:
        return ""
    if kind == "array_value":
        return "[" + ", ".join(_any_value(x) for x in v.array_value.values) + "]"
    if kind == "kvlist_value":
        return "{" + ", ".join(f"{kv.key}: {_any_value(kv.value)}" for kv in v.kvlist_value.values) + "}"
    if kind == "bytes_value":
        return v.bytes_value.hex()
    return str(getattr(v, kind))


def _attrs(attributes, indent: str) -> list[str]:
    return [
        f"{indent}-> {kv.key}: {kv.value.WhichOneof('value') or 'Empty'}({_any_value(kv.value)})" for kv in attributes
    ]


def format_detailed(traces: Traces) -> str:
    """A readable dump of every field that matters, ids in hex."""
    out = []
    for ri, rs in enumerate(traces.message.resource_spans):
        out.append(f"ResourceSpans #{ri}")
        out.append(f"Resource SchemaURL: {rs.schema_url}")
        out.append("Resource attributes:")
        out += _attrs(rs.resource.attributes, "     ")
        for si, ss in enumerate(rs.scope_spans):
            out.append(f"ScopeSpans #{si}")
            out.append(f"ScopeSpans SchemaURL: {ss.schema_url}")
            out.append(f"InstrumentationScope {ss.scope.name} {ss.scope.version}")
            for pi, span in enumerate(ss.spans):
                out.append(f"Span #{pi}")
                out.append(f"    Trace ID       : {span.trace_id.hex()}")
                out.append(f"    Parent ID      : {span.parent_span_id.hex()}")
                out.append(f"    ID             : {span.span_id.hex()}")
                out.append(f"    Name           : {span.name}")
                out.append(f"    Kind           : {span.kind}")
                out.append(f"    Start time     : {span.start_time_unix_nano}")
                out.append(f"    End time       : {span.end_time_unix_nano}")
                out.append(f"    Status code    : {span.status.code}")
                out.append(f"    Status message : {span.status.message}")
                if span.attributes:
                    out.append("Attributes:")
                    out += _attrs(span.attributes, "     ")
                for ei, ev in enumerate(span.events):
                    out.append(f"SpanEvent #{ei}")
                    out.append(f"     -> Name: {ev.name}")
                    out.append(f"     -> Timestamp: {ev.time_unix_nano}")
                    out += _attrs(ev.attributes, "     ")
                for li, link in enumerate(span.links):
                    out.append(f"SpanLink #{li}")
                    out.append(f"     -> Trace ID: {link.trace_id.hex()}")
                    out.append(f"     -> ID: {link.span_id.hex()}")
                    out += _attrs(link.attributes, "     ")
    return "\n".join(out)


def _format_normal(traces: Traces) -> str:
    lines = []
    for rs in traces.message.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                dur_ms = (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6
                lines.append(
                    f"{span.name} {span.trace_id.hex()} {span.span_id.hex()} kind={span.kind} "
                    f"status={span.status.code} duration={dur_ms:.3f}ms"
                )
    return "\n".join(lines)


def _summary(batch: Batch) -> str:
    msg = batch.message
    if batch.signal == "metrics":
        metrics = sum(len(sm.metrics) for rm in msg.resource_metrics for sm in rm.scope_metrics)
        return (
            f'Metrics {{"resource metrics": {len(msg.resource_metrics)}, "metrics": {metrics}, '
            f'"data points": {batch.item_count}}}'
        )
    if batch.signal == "logs":
        return f'Logs {{"resource logs": {len(msg.resource_logs)}, "log records": {batch.item_count}}}'
    return f'Traces {{"resource spans": {len(msg.resource_spans)}, "spans": {batch.item_count}}}'


def _format_normal_metrics(batch: Batch) -> str:
    lines = []
    for rm in batch.message.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data") or "empty"
                points = len(getattr(metric, kind).data_points) if kind != "empty" else 0
                lines.append(f"{metric.name} {kind} unit={metric.unit!r} data_points={points}")
    return "\n".join(lines)


def _format_normal_logs(batch: Batch) -> str:
    lines = []
    for rl in batch.message.resource_logs:
        for sl in rl.scope_logs:
            for record in sl.log_records:
                body = _any_value(record.body) if record.HasField("body") else ""
                lines.append(
                    f"{record.severity_text or record.severity_number} {body} "
                    f"trace_id={record.trace_id.hex()} span_id={record.span_id.hex()}"
                )
    return "\n".join(lines)


def _format(batch: Batch, verbosity: str) -> str:
    if batch.signal == "traces":
        return _format_normal(batch) if verbosity == "normal" else format_detailed(batch)  # type: ignore[arg-type]
    if verbosity == "normal":
        return _format_normal_metrics(batch) if batch.signal == "metrics" else _format_normal_logs(batch)
    from google.protobuf import text_format

    return text_format.MessageToString(batch.message, as_utf8=True)


class DebugExporter(Exporter):
    def __init__(self, settings, config: DebugExporterConfig):
        super().__init__(settings, None, timeout=0.0, queue=config.sending_queue)
        self.config = config
        self._sampler = _Sampler(config.sampling_initial, config.sampling_thereafter)
        if config.use_internal_logger:
            self._emit = lambda text: self.log.info("%s", text)
        else:
            self._emit = lambda text: print(text, file=sys.stdout, flush=True)

    async def push(self, batch: Batch) -> None:
        if not self._sampler.allow():
            return
        self._emit(_summary(batch))
        if self.config.verbosity != "basic":
            self._emit(_format(batch, self.config.verbosity))


def _create(settings, config: DebugExporterConfig, next_consumer) -> DebugExporter:
    return DebugExporter(settings, config)


FACTORY = Factory(
    kind="exporter",
    type="debug",
    config_class=DebugExporterConfig,
    create=_create,
    stability="development",
    signals=SIGNALS,
)
