"""The ``attributes`` processor in a real collector: every span's, log record's and data point's
attributes edited as a Go config says, the rest of each item unchanged; include/exclude refused."""

from __future__ import annotations

import hashlib

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_lite.collector.config import ConfigErrors, build_config, parse_yaml
from tests.support.collector_process import CollectorProcess
from tests.support.component_harness import post_protobuf
from tests.support.otlp_sink import OtlpSink
from tests.support.reliability import build_request

SIGNALS = ("traces", "metrics", "logs")


def _config(sink: OtlpSink):
    def config(c: CollectorProcess) -> str:
        pipelines = "\n".join(
            f"    {s}: {{receivers: [otlp], processors: [attributes], exporters: [otlp]}}" for s in SIGNALS
        )
        return f"""
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{c.http_port}"}}
      grpc: {{endpoint: "127.0.0.1:{c.grpc_port}"}}
processors:
  attributes:
    actions:
      - {{key: environment, value: production, action: insert}}
      - {{key: user.email, action: hash}}
      - {{key: http.request.header.authorization, action: delete}}
      - {{key: http.status_code, action: convert, converted_type: int}}
exporters:
  otlp: {{endpoint: "{sink.grpc_endpoint}", tls: {{insecure: true}}}}
service:
  pipelines:
{pipelines}
  telemetry: {{metrics: {{address: "127.0.0.1:{c.metrics_port}"}}}}
"""

    return config


def _items(message, signal: str) -> list:
    if signal == "traces":
        return [s for rs in message.resource_spans for ss in rs.scope_spans for s in ss.spans]
    if signal == "logs":
        return [r for rl in message.resource_logs for sl in rl.scope_logs for r in sl.log_records]
    return [
        p for rm in message.resource_metrics for sm in rm.scope_metrics for m in sm.metrics for p in m.sum.data_points
    ]


_CLASSES = {
    "traces": ExportTraceServiceRequest,
    "metrics": ExportMetricsServiceRequest,
    "logs": ExportLogsServiceRequest,
}


def _request(signal: str) -> bytes:
    message = _CLASSES[signal].FromString(build_request(range(1, 6), signal=signal))
    for item in _items(message, signal):
        for key, value in (
            ("user.email", "a@example.com"),
            ("http.request.header.authorization", "Bearer x"),
            ("http.status_code", "503"),
        ):
            item.attributes.add(key=key).value.string_value = value
    return message.SerializeToString()


@pytest.mark.parametrize("signal", SIGNALS)
def test_every_items_attributes_are_edited(signal):
    with OtlpSink(http=False) as sink:
        collector = CollectorProcess(_config(sink))
        collector.start()
        try:
            sent = _request(signal)
            answer = post_protobuf(collector, signal, sent)
            assert answer.status_code == 200, answer.text
            stored = {"traces": sink.requests, "metrics": sink.metrics_requests, "logs": sink.logs_requests}[signal]
            assert sink.wait_for(lambda: len(stored) == 1, 30)
            got = stored[0]
        finally:
            collector.stop()
    before, after = _items(_CLASSES[signal].FromString(sent), signal), _items(got, signal)
    assert len(after) == len(before) == 5
    for b, a in zip(before, after, strict=True):
        attributes = {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in a.attributes}
        assert attributes == {
            "user.email": hashlib.sha256(b"a@example.com").hexdigest(),
            "http.status_code": 503,
            "environment": "production",
        }
        b.ClearField("attributes")
        a.ClearField("attributes")
        assert a == b  # nothing but the attributes changed


def test_match_properties_that_do_not_suit_the_signal_are_named():
    text = """
receivers: {otlp: {protocols: {grpc: {}}}}
processors:
  attributes:
    include: {match_type: strict, services: [checkout]}
    actions: [{key: k, value: v, action: upsert}]
  attributes/empty:
    exclude: {match_type: regexp}
    actions: [{key: k, action: delete}]
  attributes/none: {}
exporters: {debug: {}}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [attributes/empty, attributes/none], exporters: [debug]}
    logs: {receivers: [otlp], processors: [attributes], exporters: [debug]}
"""
    with pytest.raises(ConfigErrors) as info:
        build_config(parse_yaml(text))
    errors = {e.path: e.message for e in info.value.errors}
    assert "is not a property of logs" in errors["processors.attributes.include.services"]
    assert "name at least one of services, span_names" in errors["processors.attributes/empty.exclude"]
    assert "at least one action" in errors["processors.attributes/none.actions"]
