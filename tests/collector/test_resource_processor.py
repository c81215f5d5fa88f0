"""The ``resource`` processor in a real collector: traces, metrics and logs sent over OTLP/HTTP with a
client header get their resources edited as a Go config says (from client metadata too), and everything
else (scopes, spans, points, records) arrives byte for byte as sent."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_lite.collector.config import ConfigErrors, build_config, parse_yaml
from tests.support.collector_process import CollectorProcess
from tests.support.component_harness import post_protobuf
from tests.support.otlp_sink import OtlpSink
from tests.support.reliability import build_request

REQUESTS = {
    "traces": (ExportTraceServiceRequest, "resource_spans", "scope_spans"),
    "metrics": (ExportMetricsServiceRequest, "resource_metrics", "scope_metrics"),
    "logs": (ExportLogsServiceRequest, "resource_logs", "scope_logs"),
}


def _config(sink: OtlpSink):
    def config(c: CollectorProcess) -> str:
        pipelines = "\n".join(
            f"    {s}: {{receivers: [otlp], processors: [resource/edit], exporters: [otlp]}}" for s in REQUESTS
        )
        return f"""
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{c.http_port}", include_metadata: true}}
      grpc: {{endpoint: "127.0.0.1:{c.grpc_port}"}}
processors:
  resource/edit:
    attributes:
      - {{key: deployment.environment, value: production, action: upsert}}
      - {{key: service.name, value: ignored, action: insert}}
      - {{key: team, value: checkout, action: update}}
      - {{key: tenant, from_context: metadata.x-tenant, action: insert}}
      - {{key: service.namespace, from_attribute: team, action: upsert}}
      - {{key: host.ip, action: hash}}
      - {{pattern: ^secret\\., action: delete}}
      - {{key: build, action: convert, converted_type: int}}
exporters:
  otlp: {{endpoint: "{sink.grpc_endpoint}", tls: {{insecure: true}}}}
service:
  pipelines:
{pipelines}
  telemetry: {{metrics: {{address: "127.0.0.1:{c.metrics_port}"}}}}
"""

    return config


def _request(signal: str) -> bytes:
    request_class, resources, _ = REQUESTS[signal]
    request = request_class.FromString(build_request(range(1, 6), signal=signal))
    first = getattr(request, resources)[0]
    second = getattr(request, resources).add()
    second.CopyFrom(first)
    for resource, extra in ((first.resource, {"team": "payments", "host.ip": "10.0.0.7"}), (second.resource, {})):
        for key, value in {**extra, "secret.token": "s3cret", "build": "1234"}.items():
            kv = resource.attributes.add(key=key)
            kv.value.string_value = value
    return request.SerializeToString()


def _attributes(resource) -> dict:
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in resource.attributes}


@pytest.mark.parametrize("signal", list(REQUESTS))
def test_resources_are_edited_and_the_rest_is_untouched(signal):
    request_class, resources, scopes = REQUESTS[signal]
    with OtlpSink(http=False) as sink:
        collector = CollectorProcess(_config(sink))
        collector.start()
        try:
            sent = _request(signal)
            answer = post_protobuf(collector, signal, sent, **{"X-Tenant": "acme"})
            assert answer.status_code == 200, answer.text
            lists = {"traces": sink.resource_spans, "metrics": sink.resource_metrics, "logs": sink.resource_logs}
            assert sink.wait_for(lambda: len(lists[signal]()) == 2, 30)
            got = lists[signal]()
        finally:
            collector.stop()
    import hashlib

    first, second = (_attributes(r.resource) for r in got)
    assert first == {
        "service.name": "reliability",
        "team": "checkout",
        "host.ip": hashlib.sha256(b"10.0.0.7").hexdigest(),
        "build": 1234,
        "deployment.environment": "production",
        "tenant": "acme",
        "service.namespace": "checkout",
    }
    assert second == {
        "service.name": "reliability",
        "build": 1234,
        "deployment.environment": "production",
        "tenant": "acme",
    }
    original = getattr(request_class.FromString(sent), resources)
    for before, after in zip(original, got, strict=True):
        assert [s.SerializeToString() for s in getattr(before, scopes)] == [
            s.SerializeToString() for s in getattr(after, scopes)
        ]


def test_config_mistakes_are_named():
    text = """
receivers: {otlp: {protocols: {grpc: {}}}}
processors:
  resource: {}
  resource/2:
    attributes: [{key: k, action: rename}]
exporters: {debug: {}}
service:
  pipelines:
    logs: {receivers: [otlp], processors: [resource, resource/2], exporters: [debug]}
"""
    with pytest.raises(ConfigErrors) as info:
        build_config(parse_yaml(text))
    errors = {e.path: e.message for e in info.value.errors}
    assert "at least one action" in errors["processors.resource.attributes"]
    assert "must be one of insert" in errors["processors.resource/2.attributes[0].action"]
