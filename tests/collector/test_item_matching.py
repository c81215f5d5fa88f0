"""Go's include / exclude match properties on real OTLP items, through the ``attributes`` processor:
which spans, log records and metrics get the actions, strict and regexp."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_lite.collector.component import ComponentID, ConfigError, CreateSettings
from otel_lite.collector.consumer import Logs, Metrics, Traces
from otel_lite.collector.item_matching import MatchProperties
from otel_lite.collector.processors.attributes import AttributesProcessor, AttributesProcessorConfig
from otel_lite.collector.telemetry import Telemetry
from tests.support.component_harness import KeepBatches

MARK = [{"key": "marked", "value": True, "action": "insert"}]


def _process(signal: str, batch, include=None, exclude=None):
    raw = {"actions": MARK}
    if include is not None:
        raw["include"] = include
    if exclude is not None:
        raw["exclude"] = exclude
    config = AttributesProcessorConfig.from_mapping(raw)
    config.validate_signal(signal)
    keep = KeepBatches()
    settings = CreateSettings(ComponentID("attributes"), "processor", Telemetry(), signal=signal)
    asyncio.run(AttributesProcessor(settings, config, keep).consume(batch))
    return keep.batches[0].message


def _traces() -> Traces:
    req = ExportTraceServiceRequest()
    for service, scope_name, version in (("checkout", "flask", "2.0"), ("cart", "requests", "1.1")):
        rs = req.resource_spans.add()
        kv = rs.resource.attributes.add(key="service.name")
        kv.value.string_value = service
        env = rs.resource.attributes.add(key="env")
        env.value.string_value = "prod" if service == "checkout" else "dev"
        ss = rs.scope_spans.add()
        ss.scope.name, ss.scope.version = scope_name, version
        for name, kind, status in (("GET /health", 2, 200), ("GET /cart", 2, 500), ("SELECT", 3, None)):
            span = ss.spans.add(name=name, kind=kind, trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
            if status is not None:
                a = span.attributes.add(key="http.status_code")
                a.value.int_value = status
    return Traces.from_bytes(req.SerializeToString())


def _marked_spans(message) -> set[tuple[str, str]]:
    out = set()
    for rs in message.resource_spans:
        service = rs.resource.attributes[0].value.string_value
        for ss in rs.scope_spans:
            for span in ss.spans:
                if any(kv.key == "marked" for kv in span.attributes):
                    out.add((service, span.name))
    return out


ALL = {(s, n) for s in ("checkout", "cart") for n in ("GET /health", "GET /cart", "SELECT")}
STATUS_500 = [{"key": "http.status_code", "value": 500}]


def _where(test) -> set[tuple[str, str]]:
    return {(s, n) for s, n in ALL if test(s, n)}


@pytest.mark.parametrize(
    ("include", "exclude", "expected"),
    [
        (None, None, ALL),
        ({"match_type": "strict", "services": ["checkout"]}, None, {(s, n) for s, n in ALL if s == "checkout"}),
        ({"match_type": "regexp", "span_names": ["^GET "]}, None, {(s, n) for s, n in ALL if n.startswith("GET")}),
        (
            {"match_type": "strict", "span_kinds": ["SPAN_KIND_CLIENT"]},
            None,
            {(s, "SELECT") for s in ("checkout", "cart")},
        ),
        (
            {"match_type": "strict", "attributes": [{"key": "http.status_code", "value": 500}]},
            None,
            {(s, "GET /cart") for s in ("checkout", "cart")},
        ),
        (
            {"match_type": "strict", "attributes": [{"key": "http.status_code"}]},
            None,
            {(s, n) for s, n in ALL if n != "SELECT"},
        ),
        (
            {"match_type": "strict", "resources": [{"key": "env", "value": "dev"}]},
            None,
            {(s, n) for s, n in ALL if s == "cart"},
        ),
        (
            {"match_type": "strict", "libraries": [{"name": "flask", "version": "2.0"}]},
            None,
            {(s, n) for s, n in ALL if s == "checkout"},
        ),
        ({"match_type": "strict", "libraries": [{"name": "flask", "version": "9"}]}, None, set()),
        (
            {"match_type": "regexp", "services": ["^c"]},
            {"match_type": "strict", "span_names": ["GET /health"]},
            {(s, n) for s, n in ALL if n != "GET /health"},
        ),
        (
            # every property must match: a checkout span with status 500
            {
                "match_type": "strict",
                "services": ["checkout"],
                "attributes": [{"key": "http.status_code", "value": 500}],
            },
            None,
            {("checkout", "GET /cart")},
        ),
    ],
)
def test_spans_selected(include, exclude, expected):
    assert _marked_spans(_process("traces", _traces(), include, exclude)) == expected


def test_log_records_selected_by_body_severity_and_attributes():
    req = ExportLogsServiceRequest()
    sl = req.resource_logs.add().scope_logs.add()
    for body, number, text in (("disk full", 17, "ERROR"), ("started", 9, "INFO"), ("no level", 0, "")):
        sl.log_records.add(severity_number=number, severity_text=text).body.string_value = body
    logs = Logs.from_bytes(req.SerializeToString())

    def marked(message) -> set[str]:
        records = message.resource_logs[0].scope_logs[0].log_records
        return {r.body.string_value for r in records if any(kv.key == "marked" for kv in r.attributes)}

    assert marked(_process("logs", logs, {"match_type": "regexp", "log_bodies": ["full$"]})) == {"disk full"}
    assert marked(_process("logs", logs, {"match_type": "strict", "log_severity_texts": ["INFO"]})) == {"started"}
    severity = {"match_type": "strict", "log_severity_number": {"min": "WARN"}}
    assert marked(_process("logs", logs, severity)) == {"disk full"}
    severity["log_severity_number"]["match_undefined"] = True
    assert marked(_process("logs", logs, severity)) == {"disk full", "no level"}


def test_metrics_selected_by_name():
    req = ExportMetricsServiceRequest()
    sm = req.resource_metrics.add().scope_metrics.add()
    for name in ("http.server.duration", "process.cpu"):
        sm.metrics.add(name=name).sum.data_points.add(as_int=1)
    message = _process(
        "metrics", Metrics.from_bytes(req.SerializeToString()), {"match_type": "regexp", "metric_names": ["^http\\."]}
    )
    marked = {
        m.name for m in message.resource_metrics[0].scope_metrics[0].metrics if len(m.sum.data_points[0].attributes)
    }
    assert marked == {"http.server.duration"}


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"match_type": "fuzzy", "services": ["a"]}, "must be strict or regexp"),
        ({"match_type": "regexp", "span_names": ["("]}, "invalid regular expression"),
        ({"match_type": "strict", "span_kinds": ["server"]}, "must be one of SPAN_KIND_UNSPECIFIED"),
        ({"match_type": "strict", "log_severity_number": {"min": "LOUD"}}, "unknown severity"),
    ],
)
def test_bad_match_properties_are_named(props, message):
    with pytest.raises(ConfigError, match=message):
        MatchProperties.from_mapping(props)
