"""``service.telemetry`` as Go configs write it, in a running collector: the resource on /metrics
(target_info, configured attributes on every series, null removing a default), the log keys zap takes
(output_paths to a file, initial_fields, JSON), the Helm chart's pull reader; and what is refused."""

from __future__ import annotations

import json
import logging
import os

import pytest
import requests

from otel_lite.collector.config import ConfigErrors, build_config, parse_yaml
from otel_lite.collector.own_logs import SamplingFilter
from tests.support.collector_process import CollectorProcess
from tests.support.otlp_requests import make_request


def _config(c: CollectorProcess) -> str:
    return f"""
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{c.http_port}"}}
      grpc: {{endpoint: "127.0.0.1:{c.grpc_port}"}}
exporters:
  debug: {{verbosity: basic}}
service:
  telemetry:
    resource:
      k8s.pod.name: gateway-0
      service.instance.id: null
    logs:
      encoding: json
      output_paths: [{os.path.join(c.workdir, "own.log")}]
      initial_fields: {{tier: gateway}}
    metrics:
      readers:
        - pull: {{exporter: {{prometheus: {{host: 127.0.0.1, port: {c.metrics_port}}}}}}}
  pipelines:
    traces: {{receivers: [otlp], exporters: [debug]}}
"""


def test_resource_logs_and_reader_in_a_running_collector():
    c = CollectorProcess(_config)
    c.start()
    try:
        body = make_request(3).SerializeToString()
        r = requests.post(c.http_url, data=body, headers={"Content-Type": "application/x-protobuf"}, timeout=10)
        assert r.status_code == 200
        text = requests.get(f"http://127.0.0.1:{c.metrics_port}/metrics", timeout=10).text
    finally:
        c.stop()
    target = next(line for line in text.splitlines() if line.startswith("target_info{"))
    assert 'service_name="otel-lite-collector"' in target and 'k8s_pod_name="gateway-0"' in target
    assert "service_version=" in target and "service_instance_id" not in target  # null removed it
    # configured attributes ride on every series, as Go puts its resource's there
    assert 'otelcol_receiver_accepted_spans_total{k8s_pod_name="gateway-0",receiver="otlp",transport="http"} 3.0' in (
        text
    )
    with open(os.path.join(c.workdir, "own.log")) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    started = [line for line in lines if line["msg"] == "collector started"]
    assert started and all(line["tier"] == "gateway" for line in lines)


@pytest.mark.parametrize(
    ("telemetry", "path", "message"),
    [
        ("logs: {processors: [{batch: {}}]}", "service.telemetry.logs.processors", "go to output_paths"),
        ("logs: {output_paths: [/no/such/dir/x.log]}", "service.telemetry.logs.output_paths[0]", "does not exist"),
        ("logs: {sampling: {enabled: true, tick: 0s}}", "service.telemetry.logs.sampling.tick", "must be positive"),
        ("traces: {level: loud}", "service.telemetry.traces.level", "must be one of"),
        ("metrics: {readers: [{periodic: {}}]}", "service.telemetry.metrics.readers[0].periodic", "pull reader"),
    ],
)
def test_telemetry_mistakes_are_named(telemetry, path, message):
    text = f"""
receivers: {{otlp: {{protocols: {{grpc: {{}}}}}}}}
exporters: {{debug: {{}}}}
service:
  telemetry:
    {telemetry}
  pipelines: {{traces: {{receivers: [otlp], exporters: [debug]}}}}
"""
    with pytest.raises(ConfigErrors) as info:
        build_config(parse_yaml(text))
    errors = {e.path: e.message for e in info.value.errors}
    assert message in errors[path], errors


def test_traces_section_loads_and_warns_that_it_does_nothing(caplog):
    text = """
receivers: {otlp: {protocols: {grpc: {}}}}
exporters: {debug: {}}
service:
  telemetry:
    traces:
      level: basic
      propagators: [tracecontext]
      processors: [{batch: {exporter: {otlp: {endpoint: "x:4317"}}}}]
  pipelines: {traces: {receivers: [otlp], exporters: [debug]}}
"""
    with caplog.at_level(logging.WARNING, logger="otel_lite.collector.config"):
        cfg = build_config(parse_yaml(text))
    assert cfg.service.telemetry.traces.propagators == ["tracecontext"]
    assert "does not trace itself" in caplog.text


def test_sampling_logs_the_first_then_every_nth_per_tick():
    sampler = SamplingFilter(tick=3600, initial=2, thereafter=3)
    record = logging.makeLogRecord({"msg": "queue full, dropped %d", "levelno": logging.WARNING})
    kept = [n for n in range(1, 12) if sampler.filter(record)]
    assert kept == [1, 2, 5, 8, 11]
    other = logging.makeLogRecord({"msg": "another message", "levelno": logging.WARNING})
    assert sampler.filter(other)  # counted per message
