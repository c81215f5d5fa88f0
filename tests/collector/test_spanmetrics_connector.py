"""The ``spanmetrics`` connector: RED metrics from spans as Go's connector makes them (names, dimensions,
buckets, temporality, overflow), a traces pipeline joined to a metrics pipeline in a real collector, and
the validation of traces-to-metrics joins."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_lite.collector.component import ComponentID, CreateSettings
from otel_lite.collector.config import ConfigErrors, build_config, parse_yaml
from otel_lite.collector.connectors.spanmetrics import SpanMetricsConfig, SpanMetricsConnector
from otel_lite.collector.consumer import Traces
from otel_lite.collector.telemetry import Telemetry
from tests.support.collector_process import CollectorProcess
from tests.support.component_harness import KeepBatches, post_protobuf
from tests.support.otlp_sink import OtlpSink

MS = 1_000_000


def _traces(spans, service="checkout", resource_extra=None) -> Traces:
    """``spans``: (name, kind, status code, duration ms, attributes)."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    for key, value in {"service.name": service, **(resource_extra or {})}.items():
        rs.resource.attributes.add(key=key).value.string_value = value
    ss = rs.scope_spans.add()
    for i, (name, kind, code, ms, attributes) in enumerate(spans):
        span = ss.spans.add(name=name, kind=kind, trace_id=b"\x01" * 16, span_id=bytes([i + 1]) * 8)
        span.start_time_unix_nano = 1_700_000_000_000_000_000
        span.end_time_unix_nano = span.start_time_unix_nano + int(ms * MS)
        span.status.code = code
        for key, value in attributes.items():
            span.attributes.add(key=key).value.string_value = value
    return Traces.from_bytes(req.SerializeToString())


def _run(config: dict, *batches, flushes: int = 1):
    keep = KeepBatches()
    settings = CreateSettings(ComponentID("spanmetrics"), "connector", Telemetry(), signal="traces")
    connector = SpanMetricsConnector(settings, SpanMetricsConfig.from_mapping(config), keep)

    async def scenario():
        for _ in range(flushes):
            for batch in batches:
                await connector.consume(batch)
            await connector.flush()

    asyncio.run(scenario())
    return [b.message for b in keep.batches]


def _points(message, name):
    metric = next(m for m in message.resource_metrics[0].scope_metrics[0].metrics if m.name == name)
    data = metric.sum if metric.WhichOneof("data") == "sum" else metric.histogram
    return metric, {tuple((kv.key, kv.value.string_value) for kv in p.attributes): p for p in data.data_points}


def test_calls_and_durations_per_series_as_go_names_them():
    batch = _traces(
        [
            ("GET /cart", 2, 0, 3, {}),
            ("GET /cart", 2, 0, 120, {}),
            ("GET /cart", 2, 2, 7, {}),
            ("SELECT", 3, 0, 0.5, {}),
        ]
    )
    (message,) = _run({}, batch)
    assert message.resource_metrics[0].resource.attributes[0].value.string_value == "checkout"
    assert message.resource_metrics[0].scope_metrics[0].scope.name == "spanmetricsconnector"
    calls_metric, calls = _points(message, "traces.span.metrics.calls")
    assert calls_metric.sum.is_monotonic and calls_metric.sum.aggregation_temporality == 2  # cumulative
    ok = (
        ("service.name", "checkout"),
        ("span.name", "GET /cart"),
        ("span.kind", "SPAN_KIND_SERVER"),
        ("status.code", "STATUS_CODE_UNSET"),
    )
    error = (*ok[:3], ("status.code", "STATUS_CODE_ERROR"))
    assert calls[ok].as_int == 2 and calls[error].as_int == 1 and len(calls) == 3
    duration_metric, durations = _points(message, "traces.span.metrics.duration")
    assert duration_metric.unit == "ms"
    h = durations[ok]
    assert list(h.explicit_bounds) == [2, 4, 6, 8, 10, 50, 100, 200, 400, 800, 1000, 1400, 2000, 5000, 10000, 15000]
    assert h.count == 2 and h.sum == pytest.approx(123.0)
    assert h.bucket_counts[1] == 1 and h.bucket_counts[7] == 1 and sum(h.bucket_counts) == 2  # 3 ms, 120 ms


def test_cumulative_accumulates_and_delta_resets():
    batch = _traces([("op", 1, 0, 1, {})])
    first, second = _run({}, batch, flushes=2)
    (_, a), (_, b) = _points(first, "traces.span.metrics.calls"), _points(second, "traces.span.metrics.calls")
    (pa,), (pb,) = a.values(), b.values()
    assert (pa.as_int, pb.as_int) == (1, 2) and pa.start_time_unix_nano == pb.start_time_unix_nano
    first, second = _run({"aggregation_temporality": "AGGREGATION_TEMPORALITY_DELTA"}, batch, flushes=2)
    (_, a), (_, b) = _points(first, "traces.span.metrics.calls"), _points(second, "traces.span.metrics.calls")
    (pa,), (pb,) = a.values(), b.values()
    assert (pa.as_int, pb.as_int) == (1, 1) and pb.start_time_unix_nano >= pa.time_unix_nano


def test_dimensions_defaults_exclusions_units_and_the_overflow_series():
    batch = _traces([("op", 1, 0, 1500, {"http.method": "GET"}), ("op", 1, 0, 1, {})], resource_extra={"region": "eu"})
    config = {
        "dimensions": [{"name": "http.method", "default": "NONE"}, {"name": "region"}, {"name": "absent"}],
        "exclude_dimensions": ["status.code"],
        "histogram": {"unit": "s", "explicit": {"buckets": ["100ms", "1s", "2s"]}},
        "namespace": "spans",
    }
    (message,) = _run(config, batch)
    _, calls = _points(message, "spans.calls")
    keys = {dict(k)["http.method"]: dict(k) for k in calls}
    assert set(keys) == {"GET", "NONE"}
    assert keys["GET"]["region"] == "eu" and "absent" not in keys["GET"] and "status.code" not in keys["GET"]
    metric, durations = _points(message, "spans.duration")
    assert metric.unit == "s"
    h = next(p for k, p in durations.items() if dict(k)["http.method"] == "GET")
    assert list(h.explicit_bounds) == [0.1, 1.0, 2.0] and list(h.bucket_counts) == [0, 0, 1, 0]

    many = _traces([(f"op-{i}", 1, 0, 1, {}) for i in range(5)])
    (message,) = _run({"aggregation_cardinality_limit": 3}, many)
    metric = message.resource_metrics[0].scope_metrics[0].metrics[0]
    overflow = [p for p in metric.sum.data_points if any(kv.key == "otel.metric.overflow" for kv in p.attributes)]
    assert len(metric.sum.data_points) == 4 and overflow[0].as_int == 2


def test_in_a_collector_traces_become_metrics_in_the_metrics_pipeline():
    def config(traces_sink, metrics_sink):
        return lambda c: (
            f"""
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{c.http_port}"}}
      grpc: {{endpoint: "127.0.0.1:{c.grpc_port}"}}
connectors:
  spanmetrics:
    metrics_flush_interval: 500ms
exporters:
  otlp/traces: {{endpoint: "{traces_sink.grpc_endpoint}", tls: {{insecure: true}}}}
  otlp/metrics: {{endpoint: "{metrics_sink.grpc_endpoint}", tls: {{insecure: true}}}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp/traces, spanmetrics]}}
    metrics: {{receivers: [spanmetrics], exporters: [otlp/metrics]}}
  telemetry: {{metrics: {{address: "127.0.0.1:{c.metrics_port}"}}}}
"""
        )

    with OtlpSink(http=False) as traces_sink, OtlpSink(http=False) as metrics_sink:
        collector = CollectorProcess(config(traces_sink, metrics_sink))
        collector.start()
        try:
            batch = _traces([("GET /cart", 2, 0, 5, {}), ("GET /cart", 2, 2, 50, {})])
            answer = post_protobuf(collector, "traces", batch.to_bytes())
            assert answer.status_code == 200
            assert traces_sink.wait_for_spans(2, 30)
            assert metrics_sink.wait_for(
                lambda: any(m.name == "traces.span.metrics.calls" for m in metrics_sink.metrics()), 30
            )
        finally:
            assert collector.term() == 0
    calls = [m for m in metrics_sink.metrics() if m.name == "traces.span.metrics.calls"]
    latest = {tuple(kv.value.string_value for kv in p.attributes): p.as_int for m in calls for p in m.sum.data_points}
    assert latest[("checkout", "GET /cart", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET")] == 1
    assert latest[("checkout", "GET /cart", "SPAN_KIND_SERVER", "STATUS_CODE_ERROR")] == 1


def test_a_traces_to_metrics_join_is_validated():
    text = """
receivers: {otlp: {protocols: {grpc: {}}}}
connectors:
  spanmetrics: {}
  spanmetrics/2: {exemplars: {enabled: true}}
  spanmetrics/3: {}
exporters: {debug: {}}
service:
  pipelines:
    traces: {receivers: [otlp, spanmetrics], exporters: [debug]}
    logs: {receivers: [otlp], exporters: [spanmetrics]}
    metrics: {receivers: [spanmetrics/2], exporters: [debug]}
    metrics/3: {receivers: [spanmetrics/3], exporters: [debug]}
"""
    with pytest.raises(ConfigErrors) as info:
        build_config(parse_yaml(text))
    errors = {e.path: e.message for e in info.value.errors}
    assert (
        "connects traces to metrics: a traces pipeline cannot receive it"
        in errors["service.pipelines.traces.receivers"]
    )
    assert "a logs pipeline cannot export it" in errors["service.pipelines.logs.exporters"]
    assert "exemplars are not produced here" in errors["connectors.spanmetrics/2.exemplars.enabled"]
    assert "no traces pipeline lists it under exporters" in errors["service.pipelines.metrics/3.receivers"]
