"""The ``count`` connector: Go's default counts of every item kind, named counts with OTTL conditions and
attributes, delta sums per resource; in a real collector, a logs pipeline counted into a metrics one."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_lite.collector.component import ComponentID, CreateSettings
from otel_lite.collector.config import ConfigErrors, build_config, parse_yaml
from otel_lite.collector.connectors.count import CountConfig, CountConnector
from otel_lite.collector.consumer import Metrics, Traces
from otel_lite.collector.telemetry import Telemetry
from tests.support.collector_process import CollectorProcess
from tests.support.component_harness import KeepBatches, post_protobuf
from tests.support.otlp_sink import OtlpSink


def _count(signal: str, config: dict, batch) -> dict:
    keep = KeepBatches()
    settings = CreateSettings(ComponentID("count"), "connector", Telemetry(), signal=signal)
    asyncio.run(CountConnector(settings, CountConfig.from_mapping(config), keep).consume(batch))
    out: dict = {}
    for b in keep.batches:
        for rm in b.message.resource_metrics:
            service = next((kv.value.string_value for kv in rm.resource.attributes if kv.key == "service.name"), "")
            for m in rm.scope_metrics[0].metrics:
                assert m.sum.is_monotonic and m.sum.aggregation_temporality == 1  # delta
                for p in m.sum.data_points:
                    key = tuple((kv.key, kv.value.string_value) for kv in p.attributes)
                    out[(service, m.name, key)] = p.as_int
    return out


def _traces() -> Traces:
    req = ExportTraceServiceRequest()
    for service, n in (("checkout", 3), ("cart", 2)):
        rs = req.resource_spans.add()
        rs.resource.attributes.add(key="service.name").value.string_value = service
        ss = rs.scope_spans.add()
        for i in range(n):
            span = ss.spans.add(name=f"op-{i}", trace_id=b"\x01" * 16, span_id=bytes([i + 1]) * 8)
            span.attributes.add(key="env").value.string_value = "prod" if i else "dev"
            span.events.add(name="retry")
    return Traces.from_bytes(req.SerializeToString())


def test_default_counts_per_resource():
    counts = _count("traces", {}, _traces())
    assert counts == {
        ("checkout", "trace.span.count", ()): 3,
        ("checkout", "trace.span.event.count", ()): 3,
        ("cart", "trace.span.count", ()): 2,
        ("cart", "trace.span.event.count", ()): 2,
    }
    req = ExportMetricsServiceRequest()
    sm = req.resource_metrics.add().scope_metrics.add()
    sm.metrics.add(name="a").sum.data_points.add(as_int=1)
    sm.metrics.add(name="b").gauge.data_points.extend([sm.metrics[0].sum.data_points[0]] * 3)
    counts = _count("metrics", {}, Metrics.from_bytes(req.SerializeToString()))
    assert counts == {("", "metric.count", ()): 2, ("", "metric.datapoint.count", ()): 4}


def test_named_counts_with_conditions_and_attributes():
    config = {
        "spans": {
            "spans.by.env": {"attributes": [{"key": "env"}]},
            "spans.op1": {"conditions": ['name == "op-1"']},
            "spans.by.team": {"attributes": [{"key": "team", "default_value": "none"}]},
        }
    }
    counts = _count("traces", config, _traces())
    assert counts[("checkout", "spans.by.env", (("env", "prod"),))] == 2
    assert counts[("checkout", "spans.by.env", (("env", "dev"),))] == 1
    assert counts[("cart", "spans.op1", ())] == 1 and counts[("checkout", "spans.op1", ())] == 1
    assert counts[("cart", "spans.by.team", (("team", "none"),))] == 2
    assert not any(name == "trace.span.count" for _, name, _ in counts)  # configured: no default


def test_in_a_collector_logs_are_counted_into_metrics():
    def config(sink):
        return lambda c: (
            f"""
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{c.http_port}"}}
      grpc: {{endpoint: "127.0.0.1:{c.grpc_port}"}}
connectors:
  count:
    logs:
      log.errors:
        description: error records
        conditions: ["severity_number >= SEVERITY_NUMBER_ERROR"]
exporters:
  debug: {{}}
  otlp: {{endpoint: "{sink.grpc_endpoint}", tls: {{insecure: true}}}}
service:
  pipelines:
    logs: {{receivers: [otlp], exporters: [debug, count]}}
    metrics: {{receivers: [count], exporters: [otlp]}}
  telemetry: {{metrics: {{address: "127.0.0.1:{c.metrics_port}"}}}}
"""
        )

    req = ExportLogsServiceRequest()
    sl = req.resource_logs.add().scope_logs.add()
    for number in (9, 17, 18, 5):
        sl.log_records.add(severity_number=number).body.string_value = "x"
    with OtlpSink(http=False) as sink:
        collector = CollectorProcess(config(sink))
        collector.start()
        try:
            answer = post_protobuf(collector, "logs", req.SerializeToString())
            assert answer.status_code == 200
            assert sink.wait_for(lambda: any(m.name == "log.errors" for m in sink.metrics()), 30)
        finally:
            collector.stop()
    (metric,) = [m for m in sink.metrics() if m.name == "log.errors"]
    assert metric.description == "error records" and metric.sum.data_points[0].as_int == 2


def test_mistakes_are_named():
    text = """
receivers: {otlp: {protocols: {grpc: {}}}}
connectors:
  count:
    spanevents: {events.retry: {conditions: ['name == "retry"']}}
  count/2:
    spans: {x: {conditions: ['Nope(name)']}}
exporters: {debug: {}}
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [count, count/2]}
    metrics: {receivers: [count, count/2], exporters: [debug]}
"""
    with pytest.raises(ConfigErrors) as info:
        build_config(parse_yaml(text))
    errors = {e.path: e.message for e in info.value.errors}
    assert (
        "conditions on span events are not supported" in errors["connectors.count.spanevents.events.retry.conditions"]
    )
    assert "converter Nope is not available" in errors["connectors.count/2.spans.x.conditions[0]"]
