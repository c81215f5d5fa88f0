"""The zipkin receiver: translation rules (table-driven), the HTTP API over real sockets
(status codes, compression, bad input, metrics), and real legacy clients
(opentelemetry-exporter-zipkin-json v2 and v1, opencensus-ext-zipkin) through a full
collector to an OTLP backend."""

from __future__ import annotations

import gzip
import json
import threading
import zlib

import pytest
import requests
from prometheus_client import generate_latest

from otel_lite.collector.config import build_config, parse_yaml
from otel_lite.collector.consumer import PermanentError, ThrottledError
from otel_lite.collector.legacy_proto.zipkin import zipkin_pb2
from otel_lite.collector.receivers.zipkin_translate import (
    START_TIME_ABSENT,
    ZipkinError,
    typed_tag,
    v1_json_to_request,
    v2_json_to_request,
    v2_proto_to_request,
)
from otel_lite.collector.service import Collector
from tests.support import capture_collector

TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "b7ad6b7169203331"
PARENT = "00f067aa0ba902b7"


def _value(v):
    which = v.WhichOneof("value")
    if which == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, which) if which else None


def attrs(obj) -> dict:
    return {kv.key: _value(kv.value) for kv in obj.attributes}


def only_span(request):
    spans = [(rs, ss, s) for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert len(spans) == 1
    return spans[0]


def v2(**fields) -> bytes:
    span = {"traceId": TRACE, "id": SPAN, "name": "op", "timestamp": 1_700_000_000_000_000, "duration": 1500}
    span.update(fields)
    return json.dumps([{k: v for k, v in span.items() if v is not None}]).encode()


# ---------------------------------------------------------------------------
# Translation rules, one row each


@pytest.mark.parametrize(
    "trace_id,expected",
    [
        (TRACE, TRACE),  # 128-bit
        ("8448eb211c80319c", "0" * 16 + "8448eb211c80319c"),  # 64-bit, left-padded
        ("48eb211c80319c", "0" * 18 + "48eb211c80319c"),  # short hex, padded like Zipkin's normaliser
    ],
)
def test_trace_ids(trace_id, expected):
    _, _, span = only_span(v2_json_to_request(v2(traceId=trace_id)))
    assert span.trace_id.hex() == expected and span.span_id.hex() == SPAN


@pytest.mark.parametrize("parent,expected", [(PARENT, PARENT), (None, ""), (SPAN, "")])  # parent == id ignored
def test_parent_id(parent, expected):
    _, _, span = only_span(v2_json_to_request(v2(parentId=parent)))
    assert span.parent_span_id.hex() == expected


@pytest.mark.parametrize(
    "kind,tags,expected",
    [
        ("CLIENT", None, 3),
        ("SERVER", None, 2),
        ("PRODUCER", None, 4),
        ("CONSUMER", None, 5),
        (None, None, 1),  # absent kind is INTERNAL (the spec maps INTERNAL to null)
        (None, {"span.kind": "producer"}, 4),  # OpenTracing-style tag when the kind is absent
    ],
)
def test_kind(kind, tags, expected):
    _, _, span = only_span(v2_json_to_request(v2(kind=kind, tags=tags)))
    assert span.kind == expected
    assert "span.kind" not in attrs(span)


def test_microseconds_to_nanoseconds_and_absent_timestamp():
    _, _, span = only_span(v2_json_to_request(v2()))
    assert span.start_time_unix_nano == 1_700_000_000_000_000_000
    assert span.end_time_unix_nano == 1_700_000_000_001_500_000
    _, _, span = only_span(v2_json_to_request(v2(timestamp=None)))
    assert span.start_time_unix_nano == 0 and attrs(span)[START_TIME_ABSENT] is True


def test_endpoints():
    request = v2_json_to_request(
        v2(
            localEndpoint={"serviceName": "front", "ipv4": "10.0.0.1", "port": 8080},
            remoteEndpoint={"serviceName": "db", "ipv6": "2001:db8::1", "port": 5432},
        )
    )
    rs, _, span = only_span(request)
    assert attrs(rs.resource) == {"service.name": "front"}
    assert attrs(span) == {
        "net.host.ip": "10.0.0.1",
        "net.host.port": 8080,
        "peer.service": "db",
        "net.peer.ip": "2001:db8::1",
        "net.peer.port": 5432,
    }


def test_explicit_peer_service_tag_wins_over_remote_endpoint():
    _, _, span = only_span(
        v2_json_to_request(v2(remoteEndpoint={"serviceName": "db"}, tags={"peer.service": "postgres"}))
    )
    assert attrs(span)["peer.service"] == "postgres"


@pytest.mark.parametrize(
    "parse,value,expected",
    [
        (False, "42", "42"),
        (True, "42", 42),
        (True, "-7", -7),
        (True, "4.5", 4.5),
        (True, "1e3", 1000.0),
        (True, "true", True),
        (True, "False", False),
        (True, "abc", "abc"),
        (True, "", ""),
        (True, "99999999999999999999", 1e20),  # beyond int64: a double
        (True, "nan", "nan"),  # not a number we type
    ],
)
def test_tags_to_attributes(parse, value, expected):
    _, _, span = only_span(v2_json_to_request(v2(tags={"k": value}), parse_string_tags=parse))
    got = attrs(span)["k"]
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(
    "tags,code,message,left",
    [
        ({"otel.status_code": "OK"}, 1, "", {}),
        ({"otel.status_code": "ERROR", "error": "boom"}, 2, "boom", {}),  # what the OTel SDK exporters send
        ({"otel.status_code": "ERROR", "error": ""}, 2, "", {}),
        ({"error": "true"}, 2, "", {}),  # Zipkin-native error tag
        ({"error": "timeout"}, 2, "timeout", {}),
        ({"error": "false"}, 0, "", {}),  # removed, as the spec says
        ({"otel.status_code": "weird"}, 0, "", {"otel.status_code": "weird"}),
        ({}, 0, "", {}),
    ],
)
def test_status(tags, code, message, left):
    _, _, span = only_span(v2_json_to_request(v2(tags=tags)))
    assert (span.status.code, span.status.message) == (code, message)
    assert attrs(span) == left


def test_resource_scope_and_dropped_counts_from_tags():
    request = v2_json_to_request(
        v2(
            localEndpoint={"serviceName": "svc"},
            tags={
                "service.version": "1.2",
                "host.name": "h1",
                "telemetry.sdk.language": "python",
                "service.name": "svc",
                "otel.scope.name": "lib",
                "otel.scope.version": "0.1",
                "otel.library.name": "lib",
                "otel.library.version": "0.1",
                "otel.dropped_attributes_count": "3",
                "otel.dropped_events_count": "2",
                "otel.dropped_links_count": "1",
                "w3c.tracestate": "a=b",
                "http.method": "GET",
            },
        )
    )
    rs, ss, span = only_span(request)
    assert attrs(rs.resource) == {
        "service.name": "svc",
        "service.version": "1.2",
        "host.name": "h1",
        "telemetry.sdk.language": "python",
    }
    assert (ss.scope.name, ss.scope.version) == ("lib", "0.1")
    assert attrs(span) == {"http.method": "GET"}
    assert (span.dropped_attributes_count, span.dropped_events_count, span.dropped_links_count) == (3, 2, 1)
    assert span.trace_state == "a=b"


def test_spans_grouped_by_service():
    spans = [
        {"traceId": TRACE, "id": f"{i + 1:016x}", "localEndpoint": {"serviceName": svc}}
        for i, svc in enumerate(["a", "b", "a", None])
    ]
    request = v2_json_to_request(json.dumps(spans).encode())
    groups = {attrs(rs.resource).get("service.name"): len(rs.scope_spans[0].spans) for rs in request.resource_spans}
    assert groups == {"a": 2, "b": 1, None: 1}


@pytest.mark.parametrize(
    "value,name,expected_attrs",
    [
        (
            '{"cache.miss": {"key": "k1", "n": 2, "ratio": 0.5, "ok": true, "tags": ["x", "y"]}}',
            "cache.miss",
            {"key": "k1", "n": 2, "ratio": 0.5, "ok": True, "tags": ["x", "y"]},
        ),  # the spec's event form
        ("wr", "wr", {}),  # plain annotation
        ('{"not": "an event"}', '{"not": "an event"}', {}),
    ],
)
def test_annotations_to_events(value, name, expected_attrs):
    _, _, span = only_span(v2_json_to_request(v2(annotations=[{"timestamp": 1_700_000_000_000_100, "value": value}])))
    (event,) = span.events
    assert event.time_unix_nano == 1_700_000_000_000_100_000
    assert event.name == name and attrs(event) == expected_attrs


def test_v2_protobuf():
    p = zipkin_pb2.Span(
        trace_id=bytes.fromhex(TRACE[16:]),
        id=bytes.fromhex(SPAN),
        parent_id=bytes.fromhex(PARENT),
        kind=zipkin_pb2.Span.SERVER,
        name="rpc",
        timestamp=1_000_000,
        duration=5,
        local_endpoint=zipkin_pb2.Endpoint(service_name="api", ipv4=bytes([10, 1, 2, 3]), port=80),
        remote_endpoint=zipkin_pb2.Endpoint(ipv6=bytes(15) + b"\x01"),
        annotations=[zipkin_pb2.Annotation(timestamp=1_000_002, value="sr-ish")],
        tags={"n": "5", "error": "bad"},
    )
    request = v2_proto_to_request(zipkin_pb2.ListOfSpans(spans=[p]).SerializeToString(), parse_string_tags=True)
    rs, _, span = only_span(request)
    assert attrs(rs.resource) == {"service.name": "api"}
    assert span.trace_id.hex() == "0" * 16 + TRACE[16:] and span.parent_span_id.hex() == PARENT
    assert (span.kind, span.start_time_unix_nano, span.end_time_unix_nano) == (2, 1_000_000_000, 1_000_005_000)
    assert attrs(span) == {"n": 5, "net.host.ip": "10.1.2.3", "net.host.port": 80, "net.peer.ip": "::1"}
    assert (span.status.code, span.status.message) == (2, "bad")
    assert [(e.name, e.time_unix_nano) for e in span.events] == [("sr-ish", 1_000_002_000)]


V1_CLIENT = [
    {
        "traceId": TRACE[16:],
        "id": SPAN,
        "parentId": PARENT,
        "name": "get",
        "annotations": [
            {"timestamp": 100, "value": "cs", "endpoint": {"serviceName": "front", "ipv4": "10.0.0.1", "port": 1}},
            {"timestamp": 150, "value": "retry", "endpoint": {"serviceName": "front"}},
            {"timestamp": 300, "value": "cr", "endpoint": {"serviceName": "front"}},
        ],
        "binaryAnnotations": [
            {"key": "http.path", "value": "/x", "endpoint": {"serviceName": "front"}},
            {"key": "retries", "value": 2},
            {"key": "cached", "value": False},
            {"key": "lc", "value": "httpclient"},
            {"key": "sa", "value": True, "endpoint": {"serviceName": "back", "ipv4": "10.0.0.2", "port": 80}},
            {"key": "error", "value": "refused"},
        ],
    }
]


def test_v1_json_core_and_binary_annotations():
    rs, _, span = only_span(v1_json_to_request(json.dumps(V1_CLIENT).encode()))
    assert attrs(rs.resource) == {"service.name": "front"}
    assert span.kind == 3  # cs/cr: CLIENT
    assert (span.start_time_unix_nano, span.end_time_unix_nano) == (100_000, 300_000)  # derived from cs..cr
    assert [(e.name, e.time_unix_nano) for e in span.events] == [("retry", 150_000)]  # core annotations dropped
    assert attrs(span) == {
        "http.path": "/x",
        "retries": 2,
        "cached": False,
        "component": "httpclient",
        "net.host.ip": "10.0.0.1",
        "net.host.port": 1,
        "peer.service": "back",
        "net.peer.ip": "10.0.0.2",
        "net.peer.port": 80,
    }
    assert (span.status.code, span.status.message) == (2, "refused")


@pytest.mark.parametrize(
    "translate,body,reason",
    [
        (v2_json_to_request, b"{not json", "invalid Zipkin v2 JSON"),
        (v2_json_to_request, b'{"traceId": "1"}', "expected a JSON array"),
        (v2_json_to_request, v2(traceId="xyz"), "traceId"),
        (v2_json_to_request, v2(traceId="0" * 32), "all-zero"),
        (v2_json_to_request, v2(traceId="1" * 33), "traceId"),
        (v2_json_to_request, v2(id=None), "id: expected a hex string"),
        (v2_json_to_request, v2(kind="SIDEWAYS"), "unknown kind"),
        (v2_json_to_request, v2(timestamp="soon"), "timestamp"),
        (v2_json_to_request, v2(tags=["a"]), "tags"),
        (v2_proto_to_request, b"\xff\xff\xff", "invalid Zipkin ListOfSpans"),
        (
            v2_proto_to_request,
            zipkin_pb2.ListOfSpans(spans=[zipkin_pb2.Span(trace_id=b"123", id=b"12345678")]).SerializeToString(),
            "trace_id",
        ),
        (v1_json_to_request, b"[1]", "expected an object"),
    ],
)
def test_bad_input_is_rejected_with_a_reason(translate, body, reason):
    with pytest.raises(ZipkinError, match=reason):
        translate(body)


def test_typed_tag_table():
    assert [typed_tag(v) for v in ("0", "+3", "3.", ".5", "T", "f", "1.2.3", "0x10")] == [
        0,
        3,
        3.0,
        0.5,
        True,
        False,
        "1.2.3",
        "0x10",
    ]


# ---------------------------------------------------------------------------
# The HTTP API on a running collector

CONFIG = """
receivers:
  zipkin: {endpoint: "127.0.0.1:0", max_request_body_size: 65536, parse_string_tags: PARSE}
exporters:
  capture:
service:
  pipelines:
    traces: {receivers: [zipkin], exporters: [capture]}
  telemetry: {metrics: {level: none}}
"""


class Running(capture_collector.Running):
    def __init__(self, loop_thread, parse=False):
        super().__init__(loop_thread, CONFIG.replace("PARSE", "true" if parse else "false"), receiver="zipkin")
        self.base = f"http://127.0.0.1:{self.receiver.port}"

    def post(self, body: bytes, path="/api/v2/spans", ctype="application/json", **headers):
        return requests.post(self.base + path, data=body, headers={"Content-Type": ctype, **headers}, timeout=10)

    def metric(self, name: str, transport: str) -> float:
        text = generate_latest(self.collector.telemetry.registry).decode()
        for line in text.splitlines():
            if line.startswith(name + "{") and f'transport="{transport}"' in line:
                return float(line.rsplit(" ", 1)[1])
        return 0.0


@pytest.fixture
def running(loop_thread):
    r = Running(loop_thread)
    yield r
    r.stop()


def test_accepts_v2_json_protobuf_and_v1_with_202(running):
    proto = zipkin_pb2.ListOfSpans(spans=[zipkin_pb2.Span(trace_id=bytes.fromhex(TRACE), id=bytes(7) + b"\x02")])
    answers = [
        running.post(v2()).status_code,
        running.post(proto.SerializeToString(), ctype="application/x-protobuf").status_code,
        running.post(json.dumps(V1_CLIENT).encode(), path="/api/v1/spans").status_code,
    ]
    assert answers == [202, 202, 202]
    assert len(running.capture.spans()) == 3
    assert [
        running.metric("otelcol_receiver_accepted_spans_total", t)
        for t in ("http_v2_json", "http_v2_proto", "http_v1_json")
    ] == [1, 1, 1]


@pytest.mark.parametrize(
    "encoding,compress",
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("GZIP", gzip.compress),
    ],
)
def test_compressed_bodies(running, encoding, compress):
    assert running.post(compress(v2()), **{"Content-Encoding": encoding}).status_code == 202
    assert len(running.capture.spans()) == 1


@pytest.mark.parametrize(
    "body,path,ctype,headers,status",
    [
        (b"{oops", "/api/v2/spans", "application/json", {}, 400),
        (b"\x08\x96\x01garbage", "/api/v2/spans", "application/x-protobuf", {}, 400),
        (v2(traceId="zz"), "/api/v2/spans", "application/json", {}, 400),
        (b"[]" + b" " * 70000, "/api/v2/spans", "application/json", {}, 400),  # over max_request_body_size
        (
            gzip.compress(b"[" + b" " * 200000 + b"]"),
            "/api/v2/spans",
            "application/json",
            {"Content-Encoding": "gzip"},
            400,
        ),  # expands past the limit
        (b"garbage", "/api/v2/spans", "application/json", {"Content-Encoding": "gzip"}, 400),
        (v2(), "/api/v2/spans", "application/json", {"Content-Encoding": "br"}, 400),
        (b"\x0c\x00", "/api/v1/spans", "application/x-thrift", {}, 415),  # v1 Thrift: unsupported
    ],
)
def test_bad_bodies_are_refused_counted_and_serving_goes_on(running, body, path, ctype, headers, status):
    r = running.post(body, path=path, ctype=ctype, **headers)
    assert r.status_code == status and r.text.strip()  # a reason in the body
    transport = {"/api/v1/spans": "http_v1_json"}.get(path) or (
        "http_v2_proto" if ctype == "application/x-protobuf" else "http_v2_json"
    )
    assert running.metric("otelcol_receiver_refused_spans_total", transport) >= 1
    assert running.post(v2()).status_code == 202  # still serving
    assert len(running.capture.spans()) == 1


def test_gzip_bomb_does_not_stall_other_clients(running):
    bomb = gzip.compress(b"\0" * (16 * 1024 * 1024))  # 16 MiB of zeros in ~16 KiB; the limit is 64 KiB
    assert len(bomb) < 65536  # so it is the decompression cap that refuses it
    results = []

    def good():
        results.append(running.post(v2()).status_code)

    t = threading.Thread(target=good)
    t.start()
    assert running.post(bomb, **{"Content-Encoding": "gzip"}).status_code == 400
    t.join(10)
    assert results == [202]


def test_unknown_path_and_method(running):
    assert requests.post(running.base + "/api/v3/spans", data=b"[]", timeout=5).status_code == 404
    assert requests.get(running.base + "/api/v2/spans", timeout=5).status_code == 405


@pytest.mark.parametrize(
    "error,status", [(ThrottledError("slow down", 2.5), 429), (PermanentError("no"), 500), (RuntimeError("bug"), 503)]
)
def test_pipeline_errors_map_to_statuses(running, error, status):
    running.capture.fail_with.append(error)
    r = running.post(v2())
    assert r.status_code == status
    if status == 429:
        assert r.headers["Retry-After"] == "3"


def test_parse_string_tags_option(loop_thread):
    r = Running(loop_thread, parse=True)
    try:
        assert r.post(v2(tags={"n": "12", "b": "true"})).status_code == 202
        assert attrs(r.capture.spans()[0]) == {"n": 12, "b": True}
    finally:
        r.stop()


# ---------------------------------------------------------------------------
# Real legacy clients -> zipkin receiver -> collector pipeline -> OTLP backend

E2E = """
receivers:
  zipkin: {endpoint: "127.0.0.1:0"}
processors:
  batch: {timeout: 50ms}
exporters:
  otlp_grpc: {endpoint: "SINK", tls: {insecure: true}}
service:
  pipelines:
    traces: {receivers: [zipkin], processors: [batch], exporters: [otlp_grpc]}
  telemetry: {metrics: {level: none}}
"""


@pytest.fixture
def zipkin_collector(loop_thread, otlp_sink):
    collector = loop_thread.call(Collector, build_config(parse_yaml(E2E.replace("SINK", otlp_sink.grpc_endpoint))))
    loop_thread.run(collector.start())
    yield collector.graph.get("receiver", "zipkin").port
    loop_thread.run(collector.shutdown())


def _sink_spans(otlp_sink):
    return [
        (rs, s) for req in otlp_sink.requests for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans
    ]


@pytest.mark.parametrize("version", ["v2", "v1"])
def test_opentelemetry_zipkin_json_exporter(zipkin_collector, otlp_sink, version):
    from opentelemetry.exporter.zipkin.encoder import Protocol
    from opentelemetry.exporter.zipkin.json import ZipkinExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import SpanKind, Status, StatusCode

    # max_tag_value_length given: the v1 encoder of 1.45 fails on its own default (None)
    exporter = ZipkinExporter(
        version=Protocol(version),
        max_tag_value_length=256,
        endpoint=f"http://127.0.0.1:{zipkin_collector}/api/{version}/spans",
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout", "service.version": "2.0"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("shop.lib", "1.4")
    with tracer.start_as_current_span("GET /cart", kind=SpanKind.SERVER, attributes={"http.status": 500}) as root:
        with tracer.start_as_current_span("db", kind=SpanKind.CLIENT) as child:
            child.add_event("cache.miss", {"key": "cart:7", "tries": 2})
        root.set_status(Status(StatusCode.ERROR, "backend down"))
    provider.shutdown()
    assert otlp_sink.wait_for_spans(2, timeout=10)
    spans = {s.name: (rs, s) for rs, s in _sink_spans(otlp_sink)}
    assert set(spans) == {"GET /cart", "db"}
    rs, server = spans["GET /cart"]
    _, client = spans["db"]
    ctx = root.get_span_context()
    assert server.trace_id == ctx.trace_id.to_bytes(16, "big") and server.span_id == ctx.span_id.to_bytes(8, "big")
    assert client.parent_span_id == server.span_id and client.trace_id == server.trace_id
    assert attrs(rs.resource)["service.name"] == "checkout" and attrs(rs.resource)["service.version"] == "2.0"
    assert server.start_time_unix_nano // 1000 == (root.start_time + 500) // 1000
    assert server.end_time_unix_nano > server.start_time_unix_nano
    assert attrs(server)["http.status"] == "500"  # Zipkin tags are strings (parse_string_tags off)
    assert (server.status.code, server.status.message) == (2, "backend down")
    (event,) = client.events
    assert event.name == "cache.miss" and attrs(event) == {"key": "cart:7", "tries": 2}
    if version == "v2":  # v1 has no span kind without core annotations
        assert (server.kind, client.kind) == (2, 3)
    scopes = {ss.scope.name for req in otlp_sink.requests for r in req.resource_spans for ss in r.scope_spans}
    assert scopes == {"shop.lib"}


def test_opencensus_zipkin_exporter(zipkin_collector, otlp_sink):
    from opencensus.ext.zipkin.trace_exporter import ZipkinExporter
    from opencensus.trace import execution_context
    from opencensus.trace.samplers import AlwaysOnSampler
    from opencensus.trace.span import SpanKind
    from opencensus.trace.tracer import Tracer

    exporter = ZipkinExporter(service_name="legacy-oc", host_name="127.0.0.1", port=zipkin_collector)
    tracer = Tracer(exporter=exporter, sampler=AlwaysOnSampler())  # SyncTransport: sent as each span ends
    try:
        with tracer.span("handler") as parent:
            parent.span_kind = SpanKind.SERVER
            parent.add_attribute("user", "u1")
            parent.add_annotation("validated")
            with tracer.span("query") as child:
                child.span_kind = SpanKind.CLIENT
        tracer.finish()
    finally:
        execution_context.clear()
    assert otlp_sink.wait_for_spans(2, timeout=10)
    spans = {s.name: (rs, s) for rs, s in _sink_spans(otlp_sink)}
    assert set(spans) == {"handler", "query"}
    rs, handler = spans["handler"]
    _, query = spans["query"]
    assert attrs(rs.resource) == {"service.name": "legacy-oc"}
    assert handler.trace_id.hex() == tracer.span_context.trace_id
    assert query.parent_span_id == handler.span_id and query.trace_id == handler.trace_id
    assert handler.span_id.hex() == parent.span_id and query.span_id.hex() == child.span_id
    assert (handler.kind, query.kind) == (2, 3)
    assert attrs(handler)["user"] == "u1"
    assert [e.name for e in handler.events] == ["validated"]
