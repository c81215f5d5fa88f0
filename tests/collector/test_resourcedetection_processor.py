"""``resourcedetection`` with Go's env and system detectors in a real collector: the collector's own
OTEL_RESOURCE_ATTRIBUTES and host land on every resource (over the sender's with override, Go's default;
only where missing without); cloud detectors are refused by name."""

from __future__ import annotations

import platform
import socket

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_lite.collector.config import ConfigErrors, build_config, parse_yaml
from otel_lite.collector.processors.resourcedetection import ResourceDetectionConfig, detect
from tests.support.collector_process import CollectorProcess
from tests.support.component_harness import post_protobuf
from tests.support.otlp_sink import OtlpSink
from tests.support.reliability import build_request


def _config(sink: OtlpSink, override: bool):
    def config(c: CollectorProcess) -> str:
        return f"""
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{c.http_port}"}}
      grpc: {{endpoint: "127.0.0.1:{c.grpc_port}"}}
processors:
  resourcedetection:
    detectors: [env, system]
    override: {str(override).lower()}
    system: {{hostname_sources: [os], resource_attributes: {{host.arch: {{enabled: true}}}}}}
exporters:
  otlp: {{endpoint: "{sink.grpc_endpoint}", tls: {{insecure: true}}}}
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [resourcedetection], exporters: [otlp]}}
  telemetry: {{metrics: {{address: "127.0.0.1:{c.metrics_port}"}}}}
"""

    return config


@pytest.mark.parametrize("override", [True, False])
def test_detected_attributes_land_on_every_resource(override):
    request = ExportTraceServiceRequest.FromString(build_request(range(1, 4)))
    kv = request.resource_spans[0].resource.attributes.add(key="host.name")
    kv.value.string_value = "the-senders-host"
    with OtlpSink(http=False) as sink:
        collector = CollectorProcess(
            _config(sink, override), env={"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod,team=a%20b"}
        )
        collector.start()
        try:
            answer = post_protobuf(collector, "traces", request.SerializeToString())
            assert answer.status_code == 200, answer.text
            assert sink.wait_for_spans(3, 30)
            resource = sink.resource_spans()[0].resource
        finally:
            collector.stop()
    got = {a.key: a.value.string_value for a in resource.attributes}
    assert got["deployment.environment"] == "prod" and got["team"] == "a b"
    assert got["os.type"] == platform.system().lower()
    assert got["host.arch"] in ("amd64", "arm64", platform.machine().lower())
    assert got["host.name"] == (socket.gethostname() if override else "the-senders-host")
    assert got["service.name"] == "reliability"  # what was not detected stays


def test_a_later_detector_wins_and_dns_falls_back_to_the_os_name():
    cfg = ResourceDetectionConfig.from_mapping({"detectors": ["system", "env"]})
    found = detect(cfg, {"OTEL_RESOURCE_ATTRIBUTES": "host.name=from-env"})
    assert found["host.name"] == "from-env"
    found = detect(ResourceDetectionConfig.from_mapping({"detectors": ["system"]}), {})
    assert found["host.name"] in (socket.getfqdn(), socket.gethostname())
    assert set(found) == {"host.name", "os.type"}  # Go's defaults


def test_cloud_detectors_and_unknown_attributes_are_refused_by_name():
    text = """
receivers: {otlp: {protocols: {grpc: {}}}}
processors:
  resourcedetection/cloud: {detectors: [env, ec2, gcp]}
  resourcedetection/sys:
    detectors: [system]
    system: {hostname_sources: [lookup], resource_attributes: {host.ip: {enabled: true}, cpu: {enabled: true}}}
exporters: {debug: {}}
service:
  pipelines:
    metrics: {receivers: [otlp], processors: [resourcedetection/cloud, resourcedetection/sys], exporters: [debug]}
"""
    with pytest.raises(ConfigErrors) as info:
        build_config(parse_yaml(text))
    errors = {e.path: e.message for e in info.value.errors}
    assert "detector 'ec2' is not available here" in errors["processors.resourcedetection/cloud.detectors[1]"]
    sys_path = "processors.resourcedetection/sys.system"
    assert "must be dns or os" in errors[f"{sys_path}.hostname_sources[0]"]
