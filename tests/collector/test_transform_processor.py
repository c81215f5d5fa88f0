"""The ``transform`` processor: Go's OTTL statements in both config shapes, on spans, logs, metrics,
data points and resources, each editor, ``where`` and group conditions, and clear errors; in a real
collector, URLs scrubbed and span names templated before export."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_lite.collector.attribute_actions import set_any
from otel_lite.collector.component import ComponentID, CreateSettings
from otel_lite.collector.config import ConfigErrors, build_config, parse_yaml
from otel_lite.collector.consumer import Logs, Metrics, Traces
from otel_lite.collector.processors.transform import TransformProcessor, TransformProcessorConfig
from otel_lite.collector.telemetry import Telemetry
from tests.support.collector_process import CollectorProcess
from tests.support.component_harness import KeepBatches, post_protobuf
from tests.support.otlp_sink import OtlpSink


def _transform(signal: str, raw: dict, batch):
    config = TransformProcessorConfig.from_mapping(raw)
    config.validate_signal(signal)
    keep = KeepBatches()
    settings = CreateSettings(ComponentID("transform"), "processor", Telemetry(), signal=signal)
    asyncio.run(TransformProcessor(settings, config, keep).consume(batch))
    (out,) = keep.batches
    assert out.item_count == batch.item_count
    return out.message


def _traces() -> Traces:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name").value.string_value = "checkout"
    ss = rs.scope_spans.add()
    for name, url in (("GET /users/123", "https://shop/users/123?token=abc&x=1"), ("GET /cart", "https://shop/cart")):
        span = ss.spans.add(name=name, kind=2, trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
        for key, value in {
            "http.url": url,
            "password": "p",
            "k8s.pod.uid": "u",
            "k8s.pod.name": "n",
            "long": "x" * 50,
        }.items():
            set_any(span.attributes.add(key=key).value, value)
    return Traces.from_bytes(req.SerializeToString())


def _attributes(message) -> dict:
    return {kv.key: kv.value.string_value for kv in message.attributes}


def test_span_statements_in_groups_and_flat_form():
    message = _transform(
        "traces",
        {
            "error_mode": "ignore",
            "trace_statements": [
                {
                    "context": "span",
                    "statements": [
                        'replace_pattern(attributes["http.url"], "token=[^&]+", "token=***")',
                        'replace_pattern(name, "/users/(\\\\d+)", "/users/{id}")',
                        'delete_key(attributes, "password")',
                        'delete_matching_keys(attributes, "^k8s\\\\.pod\\\\.u")',
                        "truncate_all(attributes, 20)",
                        'set(attributes["route.templated"], true) where IsMatch(name, "\\\\{id\\\\}")',
                        'set(status.code, STATUS_CODE_ERROR) where name == "GET /cart"',
                    ],
                },
                {"context": "resource", "statements": ['set(attributes["deployment.environment"], "prod")']},
                'set(span.attributes["tier"], resource.attributes["deployment.environment"])',
            ],
        },
        _traces(),
    )
    rs = message.resource_spans[0]
    assert _attributes(rs.resource) == {"service.name": "checkout", "deployment.environment": "prod"}
    first, second = rs.scope_spans[0].spans
    assert first.name == "GET /users/{id}" and second.name == "GET /cart"
    assert _attributes(first)["http.url"] == "https://shop/users/1"  # scrubbed, then truncated to 20
    assert _attributes(first)["long"] == "x" * 20
    assert set(_attributes(first)) == {"http.url", "k8s.pod.name", "long", "route.templated", "tier"}
    assert first.attributes[3].value.bool_value is True
    assert _attributes(first)["tier"] == "prod"  # statements run in order: the resource was set first
    assert "route.templated" not in _attributes(second)
    assert (first.status.code, second.status.code) == (0, 2)


def test_replace_match_takes_globs():
    message = _transform(
        "traces",
        {
            "trace_statements": [
                'replace_match(span.name, "GET /users/*", "GET /users/{id}")',
                'replace_all_matches(span.attributes, "https://shop/*", "https://shop/…")',
            ]
        },
        _traces(),
    )
    first, second = message.resource_spans[0].scope_spans[0].spans
    assert (first.name, second.name) == ("GET /users/{id}", "GET /cart")
    assert _attributes(first)["http.url"] == _attributes(second)["http.url"] == "https://shop/…"


def test_group_conditions_and_keep_keys_and_limit():
    message = _transform(
        "traces",
        {
            "trace_statements": [
                {
                    "context": "span",
                    "conditions": ['name == "GET /cart"'],
                    "statements": ['keep_keys(attributes, ["http.url", "long"])', 'limit(attributes, 1, ["long"])'],
                }
            ]
        },
        _traces(),
    )
    first, second = message.resource_spans[0].scope_spans[0].spans
    assert len(first.attributes) == 5  # the group's condition did not hold
    assert list(_attributes(second)) == ["long"]


def test_log_metric_and_datapoint_statements():
    req = ExportLogsServiceRequest()
    record = req.resource_logs.add().scope_logs.add().log_records.add(severity_number=9)
    record.body.string_value = "user 42 logged in from 10.0.0.7"
    message = _transform(
        "logs",
        {
            "log_statements": [
                'replace_pattern(log.body, "\\\\d+\\\\.\\\\d+\\\\.\\\\d+\\\\.\\\\d+", "<ip>")',
                'set(log.severity_text, "INFO") where log.severity_number == SEVERITY_NUMBER_INFO',
                'set(log.attributes["user.id"], "42") where IsMatch(log.body, "^user 42 ")',
            ]
        },
        Logs.from_bytes(req.SerializeToString()),
    )
    out = message.resource_logs[0].scope_logs[0].log_records[0]
    assert out.body.string_value == "user 42 logged in from <ip>"
    assert out.severity_text == "INFO" and _attributes(out) == {"user.id": "42"}

    req = ExportMetricsServiceRequest()
    metric = req.resource_metrics.add().scope_metrics.add().metrics.add(name="http.server.duration", unit="ms")
    for route in ("/users/1", "/users/2"):
        metric.histogram.data_points.add(count=1).attributes.add(key="http.route").value.string_value = route
    message = _transform(
        "metrics",
        {
            "metric_statements": [
                {"context": "metric", "statements": ['set(description, "Duration of HTTP server requests")']},
                {
                    "context": "datapoint",
                    "statements": ['replace_pattern(attributes["http.route"], "/\\\\d+$", "/{id}")'],
                },
            ]
        },
        Metrics.from_bytes(req.SerializeToString()),
    )
    out = message.resource_metrics[0].scope_metrics[0].metrics[0]
    assert out.description == "Duration of HTTP server requests"
    assert [p.attributes[0].value.string_value for p in out.histogram.data_points] == ["/users/{id}", "/users/{id}"]


def test_in_a_collector_statements_apply_before_export():
    def config(sink):
        return lambda c: (
            f"""
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{c.http_port}"}}
      grpc: {{endpoint: "127.0.0.1:{c.grpc_port}"}}
processors:
  transform/scrub:
    error_mode: ignore
    trace_statements:
      - context: span
        statements:
          - 'replace_pattern(attributes["http.url"], "token=[^&]+", "token=***")'
          - 'delete_key(attributes, "password")'
exporters:
  otlp: {{endpoint: "{sink.grpc_endpoint}", tls: {{insecure: true}}}}
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [transform/scrub], exporters: [otlp]}}
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
        finally:
            collector.stop()
    urls = sorted(_attributes(s)["http.url"] for s in sink.spans())
    assert urls == ["https://shop/cart", "https://shop/users/123?token=***&x=1"]
    assert not any("password" in _attributes(s) for s in sink.spans())


SET_X = 'set(attributes["x"], 1)'


@pytest.mark.parametrize(
    ("statements", "path", "message"),
    [
        (['set(attributes["x"], 1)'], "trace_statements[0]", "name the context"),
        (['set(span.attributes["x"], 1'], "trace_statements[0]", "cannot parse"),
        (["truncate(span.attributes, 3)"], "trace_statements[0]", "function truncate is not available here"),
        (["set(span.events, 1)"], "trace_statements[0]", "'events' is not a path"),
        (['set(span.trace_id.string, "x")'], "trace_statements[0]", "cannot be set"),
        (['delete_key(span.name, "x")'], "trace_statements[0]", "takes a map"),
        (['set(spanevent.name, "x")'], "trace_statements[0]", "spanevent context is not supported"),
        (
            [{"context": "scope", "statements": ['set(attributes["x"], 1)']}],
            "trace_statements[0].context",
            "not supported",
        ),
        (
            [{"context": "log", "statements": ['set(attributes["x"], 1)']}],
            "trace_statements[0].context",
            "must be one of",
        ),
        (
            [{"context": "span", "conditions": ["name"], "statements": ['set(attributes["x"], 1)']}],
            "trace_statements[0].conditions[0]",
            "is not a condition",
        ),
    ],
)
def test_mistakes_are_named_at_their_statement(statements, path, message):
    text_config = {"trace_statements": statements}
    config_yaml = f"""
receivers: {{otlp: {{protocols: {{grpc: {{}}}}}}}}
processors:
  transform: {text_config!r}
exporters: {{debug: {{}}}}
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [transform], exporters: [debug]}}
"""
    with pytest.raises(ConfigErrors) as info:
        build_config(parse_yaml(config_yaml))
    errors = {e.path: e.message for e in info.value.errors}
    assert message in errors[f"processors.transform.{path}"], errors
