"""The ``forward`` connector: pipelines joined as Go joins them, over real sockets, and the
config rules that keep a join from silently going nowhere."""

from __future__ import annotations

import pytest

from otel_lite.collector.config import build_config, parse_yaml
from otel_lite.collector.config_loading import ConfigErrors
from otel_lite.collector.service import Collector
from tests.support.journal_components import JOURNAL, lookup, name_by_pipeline
from tests.support.otlp_requests import make_request, post
from tests.support.otlp_sink import OtlpSink

# two receivers' pipelines with their own processing, joined into one exporting pipeline that
# batches and sends (the shape operators use forward for)
JOINED = """
receivers:
  otlp/a: {protocols: {http: {endpoint: "127.0.0.1:0"}}}
  otlp/b: {protocols: {grpc: {endpoint: "127.0.0.1:0"}}}
processors:
  batch/in: {timeout: 10s, send_batch_size: 100000}
  batch/out: {timeout: 50ms}
connectors:
  forward:
exporters:
  otlp:
    endpoint: SINK
    tls: {insecure: true}
service:
  pipelines:
    traces/a: {receivers: [otlp/a], processors: [batch/in], exporters: [forward]}
    traces/b: {receivers: [otlp/b], exporters: [forward]}
    traces/out: {receivers: [forward], processors: [batch/out], exporters: [otlp]}
  telemetry: {metrics: {level: none}}
"""


def _start(loop_thread, text: str, lookup_fn=None) -> Collector:
    cfg = build_config(parse_yaml(text), lookup_fn) if lookup_fn else build_config(parse_yaml(text))
    collector = loop_thread.call(Collector, cfg)
    if lookup_fn is lookup:
        name_by_pipeline(collector.graph)  # journal names as tag/x@traces/x
    loop_thread.run(collector.start())
    return collector


def test_forward_joins_two_receivers_pipelines_into_one_exporting_pipeline(loop_thread):
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    with OtlpSink(http=False) as sink:
        collector = _start(loop_thread, JOINED.replace("SINK", sink.grpc_endpoint))
        try:
            g = collector.graph
            assert [label for label, _ in g.connectors] == ["connector forward (traces)"]
            # upstream pipelines' processors stop before the pipeline they feed: batch/in flushes
            # into a batch/out that still runs
            labels = [label for label, _ in g.processors]
            assert labels.index("processor batch/in (pipeline traces/a)") < labels.index(
                "processor batch/out (pipeline traces/out)"
            )
            a = g.get("receiver", "otlp/a")
            assert post(f"http://127.0.0.1:{a.http_port}/v1/traces", make_request(7, "a").SerializeToString()).ok
            b = g.get("receiver", "otlp/b")
            provider = TracerProvider()
            provider.add_span_processor(
                BatchSpanProcessor(OTLPSpanExporter(endpoint=f"127.0.0.1:{b.grpc_port}", insecure=True))
            )
            tracer = provider.get_tracer("t")
            for i in range(5):
                with tracer.start_as_current_span(f"b-{i}"):
                    pass
            provider.shutdown()
            assert sink.wait_for_spans(5, timeout=20)  # traces/b is unbatched: through at once
        finally:
            # batch/in holds pipeline a's 7 spans (10 s timeout): the shutdown must deliver them
            loop_thread.run(collector.shutdown())
        names = sorted(s.name for s in sink.spans())
    assert names == sorted([f"b-{i}" for i in range(5)] + [f"a-{i}" for i in range(7)])


FAN_OUT = """
receivers:
  otlp: {protocols: {http: {endpoint: "127.0.0.1:0"}}}
processors:
  tag/in: {tag: IN}
  tag/x: {tag: X}
connectors:
  forward/split:
exporters:
  record/direct:
  record/x:
  record/y:
service:
  pipelines:
    traces/in: {receivers: [otlp], processors: [tag/in], exporters: [record/direct, forward/split]}
    traces/x: {receivers: [forward/split], processors: [tag/x], exporters: [record/x]}
    traces/y: {receivers: [forward/split], exporters: [record/y]}
  telemetry: {metrics: {level: none}}
"""


def test_forward_fans_out_a_copy_to_each_pipeline_receiving_from_it(loop_thread):
    JOURNAL.clear()
    collector = _start(loop_thread, FAN_OUT, lookup)
    try:
        g = collector.graph
        r = g.get("receiver", "otlp")
        assert post(f"http://127.0.0.1:{r.http_port}/v1/traces", make_request(4).SerializeToString()).ok
        direct, x, y = (g.get("exporter", f"record/{n}") for n in ("direct", "x", "y"))
        assert [b.span_count for b in direct.batches + x.batches + y.batches] == [4, 4, 4]
        # tag/x modifies its copy only: the direct exporter and traces/y see pipeline in's tag alone
        assert sorted(direct.tags()) == ["IN"] and sorted(y.tags()) == ["IN"]
        assert sorted(x.tags()) == ["IN", "X"]
    finally:
        loop_thread.run(collector.shutdown())
    # started downstream first: the exporters, then tag/x (traces/x) before tag/in (traces/in)
    starts = [e for e in JOURNAL if e.startswith("start tag")]
    assert starts == ["start tag/x@traces/x", "start tag/in@traces/in"]
    stops = [e for e in JOURNAL if e.startswith("stop tag")]
    assert stops == ["stop tag/in@traces/in", "stop tag/x@traces/x"]


def test_forward_carries_metrics_and_logs_to_pipelines_of_the_same_signal(loop_thread):
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    text = """
receivers:
  otlp: {protocols: {http: {endpoint: "127.0.0.1:0"}}}
connectors:
  forward:
exporters:
  file: {path: OUT}
service:
  pipelines:
    metrics/in: {receivers: [otlp], exporters: [forward]}
    metrics/out: {receivers: [forward], exporters: [file]}
    logs/in: {receivers: [otlp], exporters: [forward]}
    logs/out: {receivers: [forward], exporters: [file]}
  telemetry: {metrics: {level: none}}
"""
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        out = f"{d}/out.jsonl"
        collector = _start(loop_thread, text.replace("OUT", out))
        try:
            assert sorted(label for label, _ in collector.graph.connectors) == [
                "connector forward (logs)",
                "connector forward (metrics)",
            ]
            r = collector.graph.get("receiver", "otlp")
            metrics = ExportMetricsServiceRequest()
            m = metrics.resource_metrics.add().scope_metrics.add().metrics.add(name="requests")
            m.sum.data_points.add(as_int=3)
            logs = ExportLogsServiceRequest()
            logs.resource_logs.add().scope_logs.add().log_records.add().body.string_value = "hello"
            base = f"http://127.0.0.1:{r.http_port}"
            assert post(f"{base}/v1/metrics", metrics.SerializeToString()).ok
            assert post(f"{base}/v1/logs", logs.SerializeToString()).ok
        finally:
            loop_thread.run(collector.shutdown())
        with open(out) as f:
            lines = [json.loads(line) for line in f]
    kinds = sorted(next(iter(line)) for line in lines)
    assert kinds == ["resourceLogs", "resourceMetrics"]
    text_out = json.dumps(lines)
    assert "requests" in text_out and "hello" in text_out


def _errors(text: str) -> list[str]:
    with pytest.raises(ConfigErrors) as info:
        build_config(parse_yaml(text))
    return [str(e) for e in info.value.errors]


_BASE = """
receivers:
  otlp: {protocols: {http: {endpoint: "127.0.0.1:0"}}}
exporters:
  debug:
connectors:
  forward:
  forward/2:
"""


def test_a_connector_used_on_one_side_only_is_an_error_naming_what_to_do():
    errors = _errors(
        _BASE
        + """
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [forward]}
    logs: {receivers: [forward/2], exporters: [debug]}
"""
    )
    assert any(
        "service.pipelines.traces.exporters" in e
        and "connector 'forward' is an exporter of traces pipeline 'traces' but no traces pipeline lists it under "
        "receivers"
        in e
        for e in errors
    ), errors
    assert any("connector 'forward/2' is a receiver of logs pipeline 'logs'" in e for e in errors), errors


def test_forward_does_not_change_signal():
    errors = _errors(
        _BASE
        + """
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [forward]}
    metrics: {receivers: [forward], exporters: [debug]}
"""
    )
    assert any("is an exporter of traces pipeline 'traces' but no traces pipeline" in e for e in errors), errors
    assert any("is a receiver of metrics pipeline 'metrics' but no metrics pipeline" in e for e in errors), errors


def test_pipelines_joined_in_a_cycle_are_an_error_showing_the_cycle():
    errors = _errors(
        _BASE
        + """
service:
  pipelines:
    traces/a: {receivers: [otlp, forward/2], exporters: [forward]}
    traces/b: {receivers: [forward], exporters: [forward/2, debug]}
"""
    )
    assert any(
        "pipelines form a cycle through connectors: traces/a -> forward -> traces/b -> forward/2 -> traces/a" in e
        for e in errors
    ), errors


def test_a_connector_with_a_receivers_id_is_an_error():
    errors = _errors(
        """
receivers:
  otlp: {protocols: {http: {endpoint: "127.0.0.1:0"}}}
exporters:
  debug:
connectors:
  otlp:
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [debug]}
"""
    )
    assert any("connectors.otlp" in e and "receiver 'otlp' has the same id" in e for e in errors), errors
