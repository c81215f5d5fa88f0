"""The assembled collector: graph shape, lifecycle order, fan-out errors, health check,
Prometheus metrics, and the official SDK → collector → OTLP backend path."""

from __future__ import annotations

import pytest
import requests

from otel_lite.collector.config import build_config, parse_yaml
from otel_lite.collector.consumer import PermanentError, RetryableError, ThrottledError, Traces
from otel_lite.collector.pipeline import FanOut, worst_error
from otel_lite.collector.service import Collector
from tests.collector.conftest import free_port
from tests.support.journal_components import JOURNAL, lookup, name_by_pipeline
from tests.support.otlp_requests import grpc_error, make_request, post

# The test components recording their lifecycle into JOURNAL: tests/support/journal_components.py

GRAPH = """
extensions:
  journal:
  health_check: {endpoint: "127.0.0.1:0"}
receivers:
  otlp: {protocols: {http: {endpoint: "127.0.0.1:0"}, grpc: {endpoint: "127.0.0.1:0"}}}
processors:
  tag/a: {tag: A}
  tag/b: {tag: B}
exporters:
  record/1:
  record/2:
service:
  extensions: [journal, health_check]
  pipelines:
    traces/one: {receivers: [otlp], processors: [tag/a, tag/b], exporters: [record/1, record/2]}
    traces/two: {receivers: [otlp], processors: [tag/b], exporters: [record/2]}
  telemetry: {metrics: {address: "127.0.0.1:METRICS_PORT"}}
"""


@pytest.fixture
def graph_collector(loop_thread):
    JOURNAL.clear()
    port = free_port()
    config = build_config(parse_yaml(GRAPH.replace("METRICS_PORT", str(port))), lookup)
    collector = loop_thread.call(Collector, config)  # components are created on the loop
    name_by_pipeline(collector.graph)
    loop_thread.run(collector.start())
    yield collector
    loop_thread.run(collector.shutdown())


def test_graph_shape_fan_out_and_lifecycle_order(graph_collector, loop_thread):
    c = graph_collector
    g = c.graph
    assert [label for label, _ in g.receivers] == ["receiver otlp"]  # one instance for two pipelines
    assert len(g.processors) == 3  # one per pipeline use
    assert [label for label, _ in g.exporters] == ["exporter record/1 (traces)", "exporter record/2 (traces)"]
    assert JOURNAL == [
        "start journal",
        "start record/1",
        "start record/2",
        "start tag/b@traces/two",
        "start tag/b@traces/one",
        "start tag/a@traces/one",
    ]
    r1, r2 = g.get("exporter", "record/1"), g.get("exporter", "record/2")
    assert r1.host is c.host and c.host.get_extension("journal") is not None
    assert c.host.get_extension("nope") is None

    receiver = g.get("receiver", "otlp")
    url = f"http://127.0.0.1:{receiver.http_port}/v1/traces"
    assert post(url, make_request(3).SerializeToString()).status_code == 200
    # pipeline one tags A then B; pipeline two tags B only and must not see pipeline one's mutation
    assert sorted(r1.tags()) == ["A", "B"]
    assert len(r2.batches) == 2 and sorted(r2.tags()) == ["A", "B", "B"]
    assert all(t.span_count == 3 for t in r1.batches + r2.batches)

    from prometheus_client import generate_latest

    text = generate_latest(c.telemetry.registry).decode()
    assert 'otelcol_processor_incoming_items_total{otel_signal="traces",processor="tag/b"} 6.0' in text
    assert 'otelcol_processor_outgoing_items_total{otel_signal="traces",processor="tag/a"} 3.0' in text
    # the same metrics on the Prometheus endpoint
    body = requests.get(f"http://127.0.0.1:{c.metrics_port}/metrics", timeout=10).text
    assert 'otelcol_receiver_accepted_spans_total{receiver="otlp",transport="http"} 3.0' in body

    JOURNAL.clear()
    loop_thread.run(c.shutdown())
    assert JOURNAL == [
        "stop tag/a@traces/one",
        "stop tag/b@traces/one",
        "stop tag/b@traces/two",
        "stop record/1",
        "stop record/2",
        "stop journal",
    ]
    with pytest.raises(requests.ConnectionError):
        post(url, make_request(1).SerializeToString())
    loop_thread.run(c.shutdown())  # twice is fine


def test_fan_out_returns_the_worst_error(graph_collector):
    g = graph_collector.graph
    r1, r2 = g.get("exporter", "record/1"), g.get("exporter", "record/2")
    receiver = g.get("receiver", "otlp")
    url = f"http://127.0.0.1:{receiver.http_port}/v1/traces"
    target = f"127.0.0.1:{receiver.grpc_port}"
    r1.fail_with = [RetryableError("r1 busy")]
    r2.fail_with = [PermanentError("r2 rejects")]
    assert post(url, make_request(1).SerializeToString()).status_code == 500
    r1.fail_with = [ThrottledError("slow", 1)]
    assert post(url, make_request(1).SerializeToString()).status_code == 429
    r1.fail_with = [RetryableError("busy")]
    err = grpc_error(target, make_request(1).SerializeToString())
    assert err.code().name == "UNAVAILABLE"


def test_worst_error_ranking():
    t1, t5 = ThrottledError("a", 1), ThrottledError("b", 5)
    r, p = RetryableError("r"), PermanentError("p")
    assert worst_error([t1, r, p]) is p
    assert worst_error([t1, r]) is r
    assert worst_error([t1, t5]) is t5
    assert worst_error([ValueError("bug"), t1]).__class__ is ValueError


def test_fan_out_waits_for_every_consumer(loop_thread):
    import asyncio

    done = []

    class Slow:
        def __init__(self, delay, exc=None):
            self.delay, self.exc = delay, exc

        async def consume(self, traces):
            await asyncio.sleep(self.delay)
            done.append(self.delay)
            if self.exc:
                raise self.exc

    fan = FanOut([Slow(0.0, RetryableError("x")), Slow(0.05)])
    with pytest.raises(RetryableError):
        loop_thread.run(fan.consume(Traces.from_bytes(make_request(1).SerializeToString())))
    assert sorted(done) == [0.0, 0.05]


def test_health_check_tracks_readiness(graph_collector, loop_thread):
    ext = graph_collector.host.get_extension("health_check")
    url = f"http://127.0.0.1:{ext.port}/"
    resp = requests.get(url, timeout=10)
    assert resp.status_code == 200 and resp.json()["status"] == "Server available"
    assert requests.get(url + "other", timeout=10).status_code == 404
    graph_collector.host.ready = False  # as during shutdown
    resp = requests.get(url, timeout=10)
    assert resp.status_code == 503 and resp.json()["status"] == "Server not available"
    assert "upSince" in resp.json()
    loop_thread.run(graph_collector.shutdown())
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=10)


def test_start_failure_stops_what_started(loop_thread):
    JOURNAL.clear()
    busy = free_port()
    import socket

    blocker = socket.socket()
    blocker.bind(("127.0.0.1", busy))
    blocker.listen()
    try:
        text = GRAPH.replace('http: {endpoint: "127.0.0.1:0"}', f'http: {{endpoint: "127.0.0.1:{busy}"}}')
        text = text.replace('address: "127.0.0.1:METRICS_PORT"', "level: none")
        collector = loop_thread.call(Collector, build_config(parse_yaml(text), lookup))
        with pytest.raises(OSError, match="cannot listen"):
            loop_thread.run(collector.start())
        assert "stop record/1" in JOURNAL and "stop journal" in JOURNAL
        assert not collector.ready
    finally:
        blocker.close()


# ---------------------------------------------------------------------------
# Official SDK exporter → collector → otlp_grpc exporter → OTLP backend (the shared sink)


def _sdk_send(exporter, n_children=5):
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "e2e"}))
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=50))
    tracer = provider.get_tracer("e2e-test")
    ids = {}
    with tracer.start_as_current_span("root", attributes={"k": "v"}) as root:
        ids[root.get_span_context().span_id] = "root"
        for i in range(n_children):
            with tracer.start_as_current_span(f"child-{i}", attributes={"i": i}) as child:
                ids[child.get_span_context().span_id] = f"child-{i}"
    trace_id = root.get_span_context().trace_id
    provider.shutdown()
    return trace_id, ids


@pytest.mark.parametrize(
    "client,exporter",
    [
        ("grpc", "otlp_grpc: {{endpoint: '{grpc}', tls: {{insecure: true}}}}"),
        ("http", "otlp_grpc: {{endpoint: '{grpc}', tls: {{insecure: true}}}}"),
        ("grpc", "otlphttp: {{endpoint: '{http}'}}"),
        ("http", "otlp_http: {{endpoint: '{http}', encoding: json}}"),
    ],
)
def test_sdk_to_collector_to_otlp_backend(loop_thread, otlp_sink, client, exporter):
    exporter = exporter.format(grpc=otlp_sink.grpc_endpoint, http=otlp_sink.http_endpoint)
    exporter_id = exporter.split(":")[0]
    text = f"""
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:0"}}, http: {{endpoint: "127.0.0.1:0"}}}}}}
processors:
  batch: {{timeout: 50ms}}
exporters:
  {exporter}
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [batch], exporters: [{exporter_id}]}}
  telemetry: {{metrics: {{level: none}}}}
"""
    collector = loop_thread.call(Collector, build_config(parse_yaml(text)))
    loop_thread.run(collector.start())
    try:
        receiver = collector.graph.get("receiver", "otlp")
        if client == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{receiver.grpc_port}", insecure=True)
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{receiver.http_port}/v1/traces")
        trace_id, ids = _sdk_send(exporter)
        assert otlp_sink.wait_for_spans(len(ids), timeout=20)
    finally:
        loop_thread.run(collector.shutdown())
    spans = otlp_sink.spans()
    assert len(spans) == len(ids)
    for span in spans:
        assert span.trace_id == trace_id.to_bytes(16, "big")
        name = ids[int.from_bytes(span.span_id, "big")]
        assert span.name == name
        attrs = {a.key: a.value for a in span.attributes}
        if name == "root":
            assert attrs["k"].string_value == "v"
        else:
            assert attrs["i"].int_value == int(name.split("-")[1])
    for req in otlp_sink.requests:
        for rs in req.resource_spans:
            assert {a.key: a.value.string_value for a in rs.resource.attributes}["service.name"] == "e2e"


# ---------------------------------------------------------------------------
# run_until_signal in a real process: SIGTERM → receivers stop, then exporters

SIGNAL_SCRIPT = r'''
import asyncio, sys
from otel_lite.collector.config import build_config, parse_yaml
from otel_lite.collector.service import Collector, setup_logging
from tests.support.journal_components import JOURNAL, lookup

text = """
receivers: {otlp: {protocols: {http: {endpoint: "127.0.0.1:%s"}}}}
exporters: {record: }
extensions: {journal: }
service:
  extensions: [journal]
  pipelines: {traces: {receivers: [otlp], exporters: [record]}}
  telemetry: {metrics: {level: none}, logs: {encoding: json}}
"""
setup_logging("info", "json")

async def main():
    collector = Collector(build_config(parse_yaml(text % sys.argv[1]), lookup))
    await collector.run_until_signal()
    print("journal:", ",".join(JOURNAL), flush=True)

asyncio.run(main())
'''


def test_run_until_signal_stops_gracefully_on_sigterm():
    import json
    import os
    import signal
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", SIGNAL_SCRIPT, str(port)],
        cwd=root,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}/v1/traces"
        import time

        deadline = time.monotonic() + 30
        while True:
            try:
                if post(url, make_request(1).SerializeToString()).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "journal: start journal,start record,stop record,stop journal" in out
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    messages = [entry["msg"] for entry in logs]
    assert "received SIGTERM" in messages and messages[-1] == "collector stopped"
    assert all(entry["level"] in ("info", "debug", "warning") for entry in logs)
