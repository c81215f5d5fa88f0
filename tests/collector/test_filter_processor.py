"""The ``filter`` processor (Go's match-property form): which spans, log records and metrics are dropped,
emptied scopes and resources removed, the drops counted; in a real collector, health checks dropped
before export; OTTL and expr refused by name."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_lite.collector.component import ComponentID, CreateSettings
from otel_lite.collector.config import ConfigErrors, build_config, parse_yaml
from otel_lite.collector.consumer import Logs, Metrics, Traces
from otel_lite.collector.processors.filter import FilterProcessor, FilterProcessorConfig
from otel_lite.collector.telemetry import Telemetry
from tests.support.collector_process import CollectorProcess
from tests.support.component_harness import KeepBatches, post_protobuf
from tests.support.otlp_sink import OtlpSink


def _filter(signal: str, raw_config: dict, batch):
    config = FilterProcessorConfig.from_mapping(raw_config)
    config.validate_signal(signal)
    keep, telemetry = KeepBatches(), Telemetry()
    settings = CreateSettings(ComponentID("filter"), "processor", telemetry, signal=signal)
    asyncio.run(FilterProcessor(settings, config, keep).consume(batch))
    items = {"traces": "spans", "logs": "logs", "metrics": "datapoints"}[signal]
    dropped = telemetry.registry.get_sample_value(
        f"otelcol_processor_filter_{items}_filtered_total", {"filter": "filter"}
    )
    return keep.batches, dropped or 0


def _traces() -> Traces:
    req = ExportTraceServiceRequest()
    for service in ("checkout", "cart"):
        rs = req.resource_spans.add()
        rs.resource.attributes.add(key="service.name").value.string_value = service
        ss = rs.scope_spans.add()
        for name in ("GET /health", "GET /cart"):
            ss.spans.add(name=name, kind=2, trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
    return Traces.from_bytes(req.SerializeToString())


def _names(batch) -> list[tuple[str, str]]:
    return [
        (rs.resource.attributes[0].value.string_value, s.name)
        for rs in batch.message.resource_spans
        for ss in rs.scope_spans
        for s in ss.spans
    ]


def test_spans_excluded_and_included():
    (batch,), dropped = _filter(
        "traces", {"spans": {"exclude": {"match_type": "strict", "span_names": ["GET /health"]}}}, _traces()
    )
    assert _names(batch) == [("checkout", "GET /cart"), ("cart", "GET /cart")] and dropped == 2
    assert batch.item_count == 2
    (batch,), dropped = _filter(
        "traces", {"spans": {"include": {"match_type": "regexp", "services": ["^cart$"]}}}, _traces()
    )
    assert _names(batch) == [("cart", "GET /health"), ("cart", "GET /cart")]
    assert len(batch.message.resource_spans) == 1  # the emptied resource is gone
    batches, dropped = _filter(
        "traces", {"spans": {"exclude": {"match_type": "regexp", "span_names": ["^GET"]}}}, _traces()
    )
    assert batches == [] and dropped == 4  # nothing left: not sent on, and the request succeeded


def test_log_records_by_severity_body_and_record_attributes():
    req = ExportLogsServiceRequest()
    sl = req.resource_logs.add().scope_logs.add()
    for body, number, user in (("debug noise", 5, "a"), ("disk full", 17, "b"), ("started", 9, "c")):
        record = sl.log_records.add(severity_number=number)
        record.body.string_value = body
        record.attributes.add(key="user").value.string_value = user
    logs = Logs.from_bytes(req.SerializeToString())

    def bodies(config):
        batches, _ = _filter("logs", {"logs": config}, logs)
        return [r.body.string_value for b in batches for r in b.message.resource_logs[0].scope_logs[0].log_records]

    assert bodies({"include": {"match_type": "strict", "severity_number": {"min": "INFO"}}}) == ["disk full", "started"]
    assert bodies({"exclude": {"match_type": "regexp", "bodies": ["noise$"]}}) == ["disk full", "started"]
    any_user = {
        "match_type": "strict",
        "record_attributes": [{"key": "user", "value": "a"}, {"key": "user", "value": "c"}],
    }
    assert bodies({"exclude": any_user}) == ["disk full"]  # any one record attribute matching is enough


def test_metrics_by_name_count_their_points():
    req = ExportMetricsServiceRequest()
    sm = req.resource_metrics.add().scope_metrics.add()
    for name, points in (("http.server.duration", 3), ("process.runtime.gc", 2)):
        metric = sm.metrics.add(name=name)
        for i in range(points):
            metric.sum.data_points.add(as_int=i)
    (batch,), dropped = _filter(
        "metrics",
        {"metrics": {"exclude": {"match_type": "regexp", "metric_names": ["^process\\."]}}},
        Metrics.from_bytes(req.SerializeToString()),
    )
    assert [m.name for m in batch.message.resource_metrics[0].scope_metrics[0].metrics] == ["http.server.duration"]
    assert dropped == 2 and batch.item_count == 3


def test_in_a_collector_health_checks_are_dropped_before_export():
    def config(sink):
        return lambda c: (
            f"""
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{c.http_port}"}}
      grpc: {{endpoint: "127.0.0.1:{c.grpc_port}"}}
processors:
  filter/health:
    error_mode: ignore
    spans:
      exclude:
        match_type: regexp
        span_names: ["^GET /health"]
exporters:
  otlp: {{endpoint: "{sink.grpc_endpoint}", tls: {{insecure: true}}}}
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [filter/health], exporters: [otlp]}}
  telemetry: {{metrics: {{address: "127.0.0.1:{c.metrics_port}"}}}}
"""
        )

    with OtlpSink(http=False) as sink:
        collector = CollectorProcess(config(sink))
        collector.start()
        try:
            answer = post_protobuf(collector, "traces", _traces().to_bytes())
            assert answer.status_code == 200
            assert sink.wait_for_spans(2, 30)
            filtered = collector.metric("otelcol_processor_filter_spans_filtered_total")
        finally:
            collector.stop()
    assert sorted(s.name for s in sink.spans()) == ["GET /cart", "GET /cart"]
    assert filtered == 2


def test_ottl_conditions_drop_what_they_hold_for():
    (batch,), dropped = _filter(
        "traces",
        {
            "error_mode": "ignore",
            "traces": {"span": ['name == "GET /health"', 'resource.attributes["service.name"] == "x"']},
        },
        _traces(),
    )
    assert _names(batch) == [("checkout", "GET /cart"), ("cart", "GET /cart")] and dropped == 2
    both = 'IsMatch(name, "^GET") and resource.attributes["service.name"] == "cart"'
    (batch,), dropped = _filter("traces", {"traces": {"span": [both]}}, _traces())
    assert _names(batch) == [("checkout", "GET /health"), ("checkout", "GET /cart")]

    req = ExportLogsServiceRequest()
    sl = req.resource_logs.add().scope_logs.add()
    for body, number in (("debug noise", 5), ("disk full", 17)):
        sl.log_records.add(severity_number=number).body.string_value = body
    (batch,), dropped = _filter(
        "logs",
        {"logs": {"log_record": ["severity_number < SEVERITY_NUMBER_INFO"]}},
        Logs.from_bytes(req.SerializeToString()),
    )
    assert [r.body.string_value for r in batch.message.resource_logs[0].scope_logs[0].log_records] == ["disk full"]

    req = ExportMetricsServiceRequest()
    sm = req.resource_metrics.add().scope_metrics.add()
    for name in ("http.server.duration", "process.runtime.gc"):
        metric = sm.metrics.add(name=name)
        for route in ("/health", "/cart"):
            metric.sum.data_points.add(as_int=1).attributes.add(key="http.route").value.string_value = route
    conditions = {"metric": ['HasPrefix(name, "process.")'], "datapoint": ['attributes["http.route"] == "/health"']}
    (batch,), dropped = _filter("metrics", {"metrics": conditions}, Metrics.from_bytes(req.SerializeToString()))
    (metric,) = batch.message.resource_metrics[0].scope_metrics[0].metrics
    assert metric.name == "http.server.duration"
    assert [p.attributes[0].value.string_value for p in metric.sum.data_points] == ["/cart"]
    assert dropped == 3 and batch.item_count == 1


def test_bad_conditions_and_mixed_forms_are_refused_by_name():
    text = """
receivers: {otlp: {protocols: {grpc: {}}}}
processors:
  filter/syntax:
    traces:
      span: ['attributes["http.route"] = "/health"']
  filter/unknown:
    traces:
      span: ['Substring(name, 0, 3) == "GET"', 'events == nil']
  filter/mixed:
    spans: {exclude: {match_type: strict, span_names: [x]}}
    traces: {span: ['name == "x"']}
  filter/expr:
    metrics: {include: {match_type: expr, expressions: ['Label("x") == "y"']}}
  filter/empty: {}
exporters: {debug: {}}
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [filter/syntax, filter/unknown, filter/mixed, filter/empty]
      exporters: [debug]
    metrics: {receivers: [otlp], processors: [filter/expr], exporters: [debug]}
"""
    with pytest.raises(ConfigErrors) as info:
        build_config(parse_yaml(text))
    errors = {e.path: e.message for e in info.value.errors}
    assert "cannot parse" in errors["processors.filter/syntax.traces.span[0]"]
    assert "converter Substring is not available here" in errors["processors.filter/unknown.traces.span[0]"]
    assert "cannot be used together" in errors["processors.filter/mixed.traces.span"]
    assert "expr matching is not supported" in errors["processors.filter/expr.metrics.include.match_type"]
    assert "needs spans.include, spans.exclude or traces.span" in errors["processors.filter/empty.spans"]
