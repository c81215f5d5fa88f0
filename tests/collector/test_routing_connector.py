"""The ``routing`` connector in a real collector: a request's resources split among tenants' pipelines by
an OTTL condition, a whole request routed by its header, the rest to the default pipelines, each
resource's bytes unchanged; config mistakes named."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_lite.collector.config import ConfigErrors, build_config, parse_yaml
from tests.support.collector_process import CollectorProcess
from tests.support.component_harness import post_protobuf
from tests.support.otlp_sink import OtlpSink


def _request(*tenants: str) -> bytes:
    req = ExportTraceServiceRequest()
    for n, tenant in enumerate(tenants):
        rs = req.resource_spans.add()
        rs.resource.attributes.add(key="tenant").value.string_value = tenant
        ss = rs.scope_spans.add()
        for i in range(3):
            span = ss.spans.add(name=f"{tenant}-{i}", trace_id=bytes([n + 1]) * 16, span_id=bytes([i + 1]) * 8)
            span.attributes.add(key="payload").value.string_value = "x" * 32
    return req.SerializeToString()


def _config(acme: OtlpSink, ecorp: OtlpSink, other: OtlpSink):
    def config(c: CollectorProcess) -> str:
        def exporter(sink):
            return f'{{endpoint: "{sink.grpc_endpoint}", tls: {{insecure: true}}}}'

        return f"""
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{c.http_port}", include_metadata: true}}
      grpc: {{endpoint: "127.0.0.1:{c.grpc_port}"}}
connectors:
  routing:
    default_pipelines: [traces/other]
    table:
      - context: request
        condition: 'request["X-Tenant"] == "ecorp"'
        pipelines: [traces/ecorp]
      - statement: route() where resource.attributes["tenant"] == "acme"
        pipelines: [traces/acme]
exporters:
  otlp/acme: {exporter(acme)}
  otlp/ecorp: {exporter(ecorp)}
  otlp/other: {exporter(other)}
service:
  pipelines:
    traces/in: {{receivers: [otlp], exporters: [routing]}}
    traces/acme: {{receivers: [routing], exporters: [otlp/acme]}}
    traces/ecorp: {{receivers: [routing], exporters: [otlp/ecorp]}}
    traces/other: {{receivers: [routing], exporters: [otlp/other]}}
  telemetry: {{metrics: {{address: "127.0.0.1:{c.metrics_port}"}}}}
"""

    return config


def test_resources_and_requests_go_where_their_route_says():
    with OtlpSink(http=False) as acme, OtlpSink(http=False) as ecorp, OtlpSink(http=False) as other:
        collector = CollectorProcess(_config(acme, ecorp, other))
        collector.start()
        try:
            sent = _request("acme", "globex", "acme")
            assert post_protobuf(collector, "traces", sent).status_code == 200
            by_header = _request("acme", "initech")
            assert post_protobuf(collector, "traces", by_header, **{"X-Tenant": "ecorp"}).ok
            assert acme.wait_for_spans(6, 30) and other.wait_for_spans(3, 30) and ecorp.wait_for_spans(6, 30)
        finally:
            collector.stop()
    names = {tenant: [f"{tenant}-{i}" for i in range(3)] for tenant in ("acme", "globex", "initech")}
    assert sorted(s.name for s in acme.spans()) == sorted(names["acme"] * 2)
    assert sorted(s.name for s in other.spans()) == [f"globex-{i}" for i in range(3)]
    assert sorted(s.name for s in ecorp.spans()) == sorted(
        [f"acme-{i}" for i in range(3)] + [f"initech-{i}" for i in range(3)]
    )
    # the resources moved as they were
    original = ExportTraceServiceRequest.FromString(sent).resource_spans
    got = [rs.SerializeToString() for rs in acme.resource_spans()]
    assert got == [original[0].SerializeToString(), original[2].SerializeToString()]


def test_mistakes_are_named():
    text = """
receivers: {otlp: {protocols: {grpc: {}}}}
connectors:
  routing:
    default_pipelines: [traces/missing]
    table:
      - condition: 'resource.attributes["tenant"] == "a"'
        pipelines: [traces/a]
      - context: span
        condition: 'name == "x"'
        pipelines: [traces/a]
      - statement: 'resource.attributes["tenant"] == "b"'
        pipelines: [traces/a]
      - condition: 'Substring(resource.attributes["t"], 0, 1) == "a"'
        pipelines: [traces/a]
exporters: {debug: {}}
service:
  pipelines:
    traces/in: {receivers: [otlp], exporters: [routing]}
    traces/a: {receivers: [routing], exporters: [debug]}
"""
    with pytest.raises(ConfigErrors) as info:
        build_config(parse_yaml(text))
    errors = {e.path: e.message for e in info.value.errors}
    assert "must be resource or request" in errors["connectors.routing.table[1].context"]
    assert "route() where" in errors["connectors.routing.table[2].statement"]
    assert "converter Substring is not available" in errors["connectors.routing.table[3].condition"]


def test_a_route_to_a_pipeline_the_connector_does_not_feed_is_named():
    text = """
receivers: {otlp: {protocols: {grpc: {}}}}
connectors:
  routing:
    default_pipelines: [traces/missing]
    table:
      - condition: 'resource.attributes["tenant"] == "a"'
        pipelines: [traces/a]
exporters: {debug: {}}
service:
  pipelines:
    traces/in: {receivers: [otlp], exporters: [routing]}
    traces/a: {receivers: [routing], exporters: [debug]}
"""
    with pytest.raises(ConfigErrors) as info:
        build_config(parse_yaml(text))
    errors = {e.path: e.message for e in info.value.errors}
    assert (
        "pipeline 'traces/missing' does not list connector 'routing'"
        in errors["connectors.routing.default_pipelines[0]"]
    )
