"""The jaeger receiver over real sockets: config, every protocol, bad input, a slow pipeline,
and the real jaeger-client 4.8.0 → collector → OTLP backend path."""

from __future__ import annotations

import asyncio
import gzip
import socket
import struct
import time
import zlib

import grpc
import pytest
import requests
import zstandard
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from thriftpy2.protocol import TBinaryProtocol, TCompactProtocol
from thriftpy2.thrift import TMessageType
from thriftpy2.transport import TMemoryBuffer

from otel_lite.collector.component import ComponentID, ConfigError
from otel_lite.collector.config import build_config, parse_yaml
from otel_lite.collector.consumer import PermanentError, RetryableError, ThrottledError
from otel_lite.collector.legacy_proto.jaeger.api_v2 import collector_pb2, collector_pb2_grpc, model_pb2
from otel_lite.collector.receivers.jaeger import agent_thrift
from otel_lite.collector.receivers.jaeger import jaeger_thrift as jt
from otel_lite.collector.service import Collector
from otel_lite.otlp.responses import grpc_retry_delay
from tests.collector.conftest import free_port
from tests.support import capture_collector

POST_SPANS = "/jaeger.api_v2.CollectorService/PostSpans"


# The capturing exporter (fail_with, gate) and lookup: tests/support/capture_collector.py

ALL = """
receivers:
  jaeger:
    protocols:
      grpc: {endpoint: "127.0.0.1:0"}
      thrift_http: {endpoint: "127.0.0.1:0", max_request_body_size: 100000}
      thrift_binary: {endpoint: "127.0.0.1:0"}
      thrift_compact: {endpoint: "127.0.0.1:0", max_packet_size: 4000, QUEUE}
exporters:
  capture:
service:
  pipelines:
    traces: {receivers: [jaeger], exporters: [capture]}
  telemetry: {metrics: {level: none}}
"""


class Running(capture_collector.Running):
    def __init__(self, loop_thread, queue: str = "queue_size: 1000"):
        super().__init__(loop_thread, ALL.replace("QUEUE", queue), receiver="jaeger")
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def metric(self, name: str, transport: str) -> float:
        value = self.collector.telemetry.registry.get_sample_value(
            f"otelcol_receiver_{name}_spans_total", {"receiver": "jaeger", "transport": transport}
        )
        return value or 0.0

    def send_udp(self, data: bytes, compact: bool = True) -> None:
        port = self.receiver.compact_port if compact else self.receiver.binary_port
        self.udp.sendto(data, ("127.0.0.1", port))

    def wait(self, cond, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return True
            time.sleep(0.01)
        return cond()

    def stop(self):
        self.udp.close()
        super().stop()


@pytest.fixture
def running(loop_thread):
    r = Running(loop_thread)
    yield r
    r.stop()


def batch(n: int = 2, service: str = "svc", high: int = 0):
    spans = [
        jt.Span(
            traceIdHigh=high,
            traceIdLow=99,
            spanId=i + 1,
            parentSpanId=0,
            operationName=f"op-{i}",
            flags=1,
            startTime=1_700_000_000_000_000 + i,
            duration=10,
            tags=[jt.Tag(key="i", vType=3, vLong=i)],
        )
        for i in range(n)
    ]
    return jt.Batch(process=jt.Process(serviceName=service, tags=[]), spans=spans)


def agent_packet(b, compact: bool = True, method: str = "emitBatch") -> bytes:
    buf = TMemoryBuffer()
    proto = TCompactProtocol(buf) if compact else TBinaryProtocol(buf)
    proto.write_message_begin(method, TMessageType.ONEWAY, 1)
    agent_thrift.Agent.emitBatch_args(batch=b).write(proto)
    proto.write_message_end()
    return buf.getvalue()


def thrift_body(b) -> bytes:
    buf = TMemoryBuffer()
    b.write(TBinaryProtocol(buf))
    return buf.getvalue()


def proto_request(n: int = 2) -> collector_pb2.PostSpansRequest:
    spans = [
        model_pb2.Span(
            trace_id=bytes(15) + b"\x05",
            span_id=struct.pack(">q", i + 1),
            operation_name=f"g-{i}",
            start_time={"seconds": 1_700_000_000},
            duration={"nanos": 5000},
        )
        for i in range(n)
    ]
    return collector_pb2.PostSpansRequest(
        batch=model_pb2.Batch(process=model_pb2.Process(service_name="g"), spans=spans)
    )


# ---------------------------------------------------------------------------
# Config


def test_config_defaults_and_empty_protocols():
    text = """
receivers: {jaeger: {protocols: {thrift_compact: , grpc: }}}
exporters: {debug: }
service: {pipelines: {traces: {receivers: [jaeger], exporters: [debug]}}}
"""
    cfg = build_config(parse_yaml(text)).receivers[ComponentID("jaeger")].config
    p = cfg.protocols
    assert p.thrift_compact.endpoint == "127.0.0.1:6831" and p.grpc.endpoint == "127.0.0.1:14250"
    assert (
        p.thrift_compact.queue_size,
        p.thrift_compact.max_packet_size,
        p.thrift_compact.workers,
        p.thrift_compact.socket_buffer_size,
    ) == (1000, 65000, 10, 0)
    assert p.thrift_binary is None and p.thrift_http is None  # only listed protocols start


@pytest.mark.parametrize(
    "protocols,where",
    [
        ("{}", "protocols"),
        ("{thrift_binary: {workers: 0}}", "workers"),
        ("{thrift_compact: {queue_size: -1}}", "queue_size"),
        ("{thrift_http: {endpoint: nope}}", "endpoint"),
        ("{zipkin: {}}", "zipkin"),
    ],
)
def test_config_errors(protocols, where):
    text = f"""
receivers: {{jaeger: {{protocols: {protocols}}}}}
exporters: {{debug: }}
service: {{pipelines: {{traces: {{receivers: [jaeger], exporters: [debug]}}}}}}
"""
    with pytest.raises(ConfigError) as e:
        build_config(parse_yaml(text))
    assert where in str(e.value)


# ---------------------------------------------------------------------------
# Each protocol


@pytest.mark.parametrize("compact", [True, False], ids=["thrift_compact", "thrift_binary"])
def test_udp_agent_protocols(running, compact):
    running.send_udp(agent_packet(batch(3, high=7), compact), compact)
    assert running.wait(lambda: len(running.capture.spans()) == 3)
    spans = running.capture.spans()
    assert sorted(s.name for s in spans) == ["op-0", "op-1", "op-2"]
    assert all(s.trace_id == struct.pack(">qq", 7, 99) for s in spans)
    transport = "udp_thrift_compact" if compact else "udp_thrift_binary"
    assert running.metric("accepted", transport) == 3


def test_thrift_http(running):
    url = f"http://127.0.0.1:{running.receiver.http_port}/api/traces"
    r = requests.post(url, data=thrift_body(batch(2)), headers={"Content-Type": "application/x-thrift"}, timeout=5)
    assert r.status_code == 202
    assert sorted(s.name for s in running.capture.spans()) == ["op-0", "op-1"]
    assert running.metric("accepted", "collector_http") == 2
    # the other accepted media type, with parameters
    r = requests.post(
        url,
        data=thrift_body(batch(1)),
        headers={"Content-Type": "application/vnd.apache.thrift.binary; charset=x"},
        timeout=5,
    )
    assert r.status_code == 202
    assert requests.get(url, timeout=5).status_code == 405


def test_grpc_post_spans(running):
    with grpc.insecure_channel(f"127.0.0.1:{running.receiver.grpc_port}") as channel:
        stub = collector_pb2_grpc.CollectorServiceStub(channel)
        assert stub.PostSpans(proto_request(2), timeout=5) == collector_pb2.PostSpansResponse()
    spans = running.capture.spans()
    assert sorted(s.name for s in spans) == ["g-0", "g-1"]
    assert spans[0].end_time_unix_nano - spans[0].start_time_unix_nano == 5000
    assert running.metric("accepted", "grpc") == 2


@pytest.mark.parametrize(
    "error,code,status",
    [
        (RetryableError("full"), grpc.StatusCode.UNAVAILABLE, 503),
        (ThrottledError("slow down", 2.5), grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
        (PermanentError("no"), grpc.StatusCode.INTERNAL, 500),
        (RuntimeError("bug"), grpc.StatusCode.UNAVAILABLE, 503),  # a component bug: retryable, as a plain Go error
    ],
    ids=["retryable", "throttled", "permanent", "bug"],
)
def test_pipeline_errors_map_to_statuses(running, error, code, status):
    """As every receiver (the OTLP receiver's mapping), not Go's Jaeger receiver, which answers every
    pipeline error with 500 over HTTP: a sender must be told to retry when it may."""
    running.capture.fail_with = [error, error]
    with grpc.insecure_channel(f"127.0.0.1:{running.receiver.grpc_port}") as channel, pytest.raises(grpc.RpcError) as e:
        collector_pb2_grpc.CollectorServiceStub(channel).PostSpans(proto_request(2), timeout=5)
    assert e.value.code() == code
    assert (grpc_retry_delay(e.value.trailing_metadata()) == 2.5) == isinstance(error, ThrottledError)
    r = requests.post(
        f"http://127.0.0.1:{running.receiver.http_port}/api/traces",
        data=thrift_body(batch(3)),
        headers={"Content-Type": "application/x-thrift"},
        timeout=5,
    )
    assert r.status_code == status and f"Cannot submit Jaeger batch: {error}" in r.text
    assert r.headers.get("Retry-After") == ("3" if status == 429 else None)
    for transport, spans in (("grpc", 2), ("collector_http", 3)):  # refused, or failed for a component bug
        assert running.metric("refused", transport) + running.metric("failed", transport) == spans


@pytest.mark.parametrize(
    "encoding,compress",
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("zstd", lambda b: zstandard.ZstdCompressor().compress(b))],
)
def test_thrift_http_compressed_bodies(running, encoding, compress):
    r = requests.post(
        f"http://127.0.0.1:{running.receiver.http_port}/api/traces",
        data=compress(thrift_body(batch(2))),
        headers={"Content-Type": "application/x-thrift", "Content-Encoding": encoding},
        timeout=5,
    )
    assert r.status_code == 202
    assert len(running.capture.spans()) == 2


# ---------------------------------------------------------------------------
# Decoders: Apache Thrift's C compact decoder (when installed) and thriftpy2's agree


@pytest.mark.parametrize("fast", [True, False], ids=["apache-c", "thriftpy2"])
def test_compact_decoders(monkeypatch, fast):
    from otel_lite.collector.receivers import jaeger

    if fast and jaeger._fastbinary is None:
        pytest.skip("Apache Thrift's C extension is not installed")
    if not fast:
        monkeypatch.setattr(jaeger, "_fastbinary", None)
    b = batch(3, high=5)
    b.spans[0].logs = [
        jt.Log(
            timestamp=1,
            fields=[jt.Tag(key="event", vType=0, vStr="x"), jt.Tag(key="bin", vType=4, vBinary=b"\x00\xff")],
        )
    ]
    b.spans[0].references = [jt.SpanRef(refType=1, traceIdHigh=1, traceIdLow=2, spanId=3)]
    assert jaeger.decode_agent_packet(agent_packet(b), True) == b
    good = agent_packet(b)
    buf = TMemoryBuffer()
    TCompactProtocol(buf).write_message_begin("emitBatch", TMessageType.ONEWAY, 1)
    header = buf.getvalue()
    for bad in (
        good[:-1],
        good[:10],
        b"\x82\x81\x01garbage",
        agent_packet(b, method="emitZipkinBatch"),
        header + b"\x1c\x29\xf9\xff\xff\xff\xff\x07",
    ):  # batch.spans claiming 2^31 elements
        with pytest.raises(jaeger.BadInput):
            jaeger.decode_agent_packet(bad, True)


# ---------------------------------------------------------------------------
# Bad input: rejected, counted as refused with the transport, and the receiver keeps serving


def test_bad_udp_packets(running):
    good = agent_packet(batch(1))
    running.send_udp(b"\x82\x81\x01garbage" * 3)  # malformed compact
    running.send_udp(good[: len(good) // 2])  # truncated
    running.send_udp(agent_packet(batch(1), method="emitZipkinBatch"))  # unsupported call
    running.send_udp(good + b"\x00" * 4000)  # over max_packet_size (4000)
    running.send_udp(b"\x00\x01\x02", compact=False)  # malformed binary
    binary = agent_packet(batch(2), compact=False)
    running.send_udp(binary[:-20], compact=False)  # truncated binary
    assert running.wait(
        lambda: (
            running.metric("refused", "udp_thrift_compact") == 4 and running.metric("refused", "udp_thrift_binary") == 2
        )
    )
    running.send_udp(good)
    assert running.wait(lambda: len(running.capture.spans()) == 1)
    assert running.metric("accepted", "udp_thrift_compact") == 1


@pytest.mark.parametrize(
    "body,ctype,status",
    [
        (b"not thrift at all", "application/x-thrift", 400),
        (None, "application/json", 400),  # Go answers 400 for an unsupported content type
        (None, "", 400),
        (b"\x0c" * 200_000, "application/x-thrift", 400),  # over max_request_body_size
    ],
)
def test_bad_thrift_http_requests(running, body, ctype, status):
    url = f"http://127.0.0.1:{running.receiver.http_port}/api/traces"
    body = thrift_body(batch(1)) if body is None else body
    r = requests.post(url, data=body, headers={"Content-Type": ctype}, timeout=5)
    assert r.status_code == status
    assert running.metric("refused", "collector_http") == 1
    assert not running.capture.spans()
    r = requests.post(url, data=thrift_body(batch(1)), headers={"Content-Type": "application/x-thrift"}, timeout=5)
    assert r.status_code == 202


@pytest.mark.parametrize(
    "body,encoding,reason",
    [
        (b"not gzip", "gzip", "invalid gzip body"),
        (b"whatever", "br", "unsupported Content-Encoding"),
        (None, "gzip", "decompressed body exceeds 100000 bytes"),  # a bomb: over max_request_body_size expanded
    ],
    ids=["bad-gzip", "unknown-encoding", "bomb"],
)
def test_bad_thrift_http_encodings(running, body, encoding, reason):
    url = f"http://127.0.0.1:{running.receiver.http_port}/api/traces"
    body = gzip.compress(b"\0" * 1_000_000) if body is None else body
    r = requests.post(
        url, data=body, headers={"Content-Type": "application/x-thrift", "Content-Encoding": encoding}, timeout=5
    )
    assert r.status_code == 400 and reason in r.text
    assert running.metric("refused", "collector_http") == 1
    r = requests.post(url, data=thrift_body(batch(1)), headers={"Content-Type": "application/x-thrift"}, timeout=5)
    assert r.status_code == 202


def test_thrift_http_oversized_body_closes_the_connection(running):
    r = requests.post(
        f"http://127.0.0.1:{running.receiver.http_port}/api/traces",
        data=b"\x0c" * 200_000,
        headers={"Content-Type": "application/x-thrift"},
        timeout=5,
    )
    assert r.status_code == 400 and "request body too large (limit 100000 bytes)" in r.text
    assert r.headers["Connection"] == "close"


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xff\xff",
        proto_request(1).SerializeToString()[:-3],
        collector_pb2.PostSpansRequest(
            batch=model_pb2.Batch(spans=[model_pb2.Span(trace_id=b"\x01" * 5)])
        ).SerializeToString(),
    ],
    ids=["garbage", "truncated", "bad-trace-id"],
)
def test_bad_grpc_requests(running, raw):
    with grpc.insecure_channel(f"127.0.0.1:{running.receiver.grpc_port}") as channel:
        call = channel.unary_unary(POST_SPANS)  # raw bytes in and out
        with pytest.raises(grpc.RpcError) as e:
            call(raw, timeout=5)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert running.metric("refused", "grpc") == 1
        assert collector_pb2_grpc.CollectorServiceStub(channel).PostSpans(proto_request(1), timeout=5) is not None
    assert len(running.capture.spans()) == 1


def test_slow_pipeline_drops_udp_packets_without_blocking_the_loop(loop_thread):
    r = Running(loop_thread, "queue_size: 2, workers: 1")
    try:
        gate = loop_thread.call(asyncio.Event)
        r.capture.gate = gate
        server = r.receiver.udp["udp_thrift_compact"]
        # two pushes in flight (the bound is queue_size), a third packet held by the worker ...
        for i in range(3):
            r.send_udp(agent_packet(batch(1)))
            assert r.wait(lambda i=i: server.received_packets == i + 1 and server.queue.empty())
        # ... so of seven more, two are queued and five dropped and counted
        for _ in range(7):
            r.send_udp(agent_packet(batch(1)))
        assert r.wait(lambda: r.metric("refused", "udp_thrift_compact") == 5)
        started = time.monotonic()
        loop_thread.run(asyncio.sleep(0))
        assert time.monotonic() - started < 0.5  # the loop still turns
        loop_thread.call(gate.set)
        assert r.wait(lambda: len(r.capture.spans()) == 5)
        assert r.metric("accepted", "udp_thrift_compact") == 5
    finally:
        r.stop()


# ---------------------------------------------------------------------------
# The real legacy client: jaeger-client 4.8.0 (OpenTracing, Thrift compact over UDP)


def test_jaeger_client_to_collector_to_otlp_backend(loop_thread, otlp_sink):
    jaeger_client = pytest.importorskip("jaeger_client")
    import opentracing

    port = free_port()
    while True:  # free_port() probes TCP; make sure the UDP port is free too
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
                break
            except OSError:
                port = free_port()
    text = f"""
receivers:
  jaeger: {{protocols: {{thrift_compact: {{endpoint: "127.0.0.1:{port}"}}}}}}
processors:
  batch: {{timeout: 50ms}}
exporters:
  otlp_grpc: {{endpoint: '{otlp_sink.grpc_endpoint}', tls: {{insecure: true}}}}
service:
  pipelines:
    traces: {{receivers: [jaeger], processors: [batch], exporters: [otlp_grpc]}}
  telemetry: {{metrics: {{level: none}}}}
"""
    collector = loop_thread.call(Collector, build_config(parse_yaml(text)))
    loop_thread.run(collector.start())
    # jaeger-client's reporter (tornado) wants a current event loop in this thread; an earlier
    # asyncio.run() in the same process leaves none
    client_loop = asyncio.new_event_loop()
    asyncio.set_event_loop(client_loop)
    try:
        config = jaeger_client.Config(
            config={
                "sampler": {"type": "const", "param": 1},
                "logging": False,
                "generate_128bit_trace_id": True,
                "local_agent": {"reporting_host": "127.0.0.1", "reporting_port": port},
                "reporter_flush_interval": 0.05,
                "tags": {"deployment": "blue"},
            },
            service_name="legacy-svc",
            validate=True,
        )
        tracer = config.new_tracer()
        ctx = {}
        with tracer.start_active_span(
            "GET /cart", tags={"span.kind": "server", "http.method": "GET", "retries": 3, "ratio": 0.5, "cached": False}
        ) as root:
            root.span.log_kv({"event": "cache miss", "key": "cart:1"})
            root.span.log_kv({"message": "no event field"})
            ctx["root"] = root.span.context
            with tracer.start_active_span("db query", tags={"span.kind": "client"}) as child:
                child.span.set_tag("error", True)
                ctx["child"] = child.span.context
        follows = tracer.start_span("async job", references=[opentracing.follows_from(ctx["root"])])
        ctx["follows"] = follows.context
        follows.finish()
        tracer.close()
        assert otlp_sink.wait_for_spans(3, timeout=10)
    finally:
        loop_thread.run(collector.shutdown())
        asyncio.set_event_loop(None)
        client_loop.close()

    spans = {s.name: s for s in otlp_sink.spans()}
    assert set(spans) == {"GET /cart", "db query", "async job"}
    root_ctx = ctx["root"]
    trace_id = root_ctx.trace_id.to_bytes(16, "big")
    assert root_ctx.trace_id >> 64  # a real 128-bit id, high half carried
    root, child, job = spans["GET /cart"], spans["db query"], spans["async job"]
    assert root.trace_id == child.trace_id == trace_id
    assert root.span_id == root_ctx.span_id.to_bytes(8, "big") and root.parent_span_id == b""
    assert child.parent_span_id == root.span_id
    assert root.kind == Span.SPAN_KIND_SERVER and child.kind == Span.SPAN_KIND_CLIENT
    attrs = {a.key: a.value for a in root.attributes}
    assert attrs["http.method"].string_value == "GET" and attrs["retries"].int_value == 3
    assert attrs["ratio"].double_value == 0.5 and attrs["cached"].bool_value is False
    assert "span.kind" not in attrs
    assert [(e.name, {a.key: a.value.string_value for a in e.attributes}) for e in root.events] == [
        ("cache miss", {"key": "cart:1"}),
        ("event", {"message": "no event field"}),
    ]
    assert root.events[0].time_unix_nano % 1000 == 0 and root.start_time_unix_nano <= root.events[0].time_unix_nano
    assert root.end_time_unix_nano > root.start_time_unix_nano and root.flags & 1
    assert child.status.code == Status.STATUS_CODE_ERROR and "error" not in {a.key for a in child.attributes}
    # jaeger-client reports its first reference, here FOLLOWS_FROM, as parentSpanId too; like Go we keep
    # parentSpanId and make every reference but a CHILD_OF to that parent a link
    assert job.trace_id == trace_id and job.parent_span_id == root.span_id
    assert [(ln.span_id, ln.attributes[0].value.string_value) for ln in job.links] == [(root.span_id, "follows_from")]
    for req in otlp_sink.requests:
        for rs in req.resource_spans:
            res = {a.key: a.value.string_value for a in rs.resource.attributes}
            assert res["service.name"] == "legacy-svc" and res["deployment"] == "blue"
            assert res["opencensus.exporterversion"] == "Jaeger-Python-4.8.0" and "host.name" in res


def test_shutdown_with_a_stuck_pipeline_is_bounded(loop_thread):
    r = Running(loop_thread, "queue_size: 2, workers: 3")
    r.capture.gate = loop_thread.call(asyncio.Event)  # never set: every push hangs
    for _ in range(8):
        r.send_udp(agent_packet(batch(1)))
    server = r.receiver.udp["udp_thrift_compact"]
    assert r.wait(lambda: server.received_packets == 8)
    receiver = r.receiver
    started = time.monotonic()
    r.lt.run(receiver.shutdown(), timeout=20)  # the receiver alone: the pipeline stays stuck
    assert time.monotonic() - started < 12  # a 5 s grace, then stuck workers are abandoned
    loop_thread.call(r.capture.gate.set)
    r.stop()
