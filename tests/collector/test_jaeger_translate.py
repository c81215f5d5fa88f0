"""Jaeger → OTLP translation, one table row per mapping rule, for both the Thrift and the
api_v2 protobuf front ends (they share one writer, so each rule is pinned on both inputs)."""

from __future__ import annotations

import struct

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from otel_lite.collector.legacy_proto.jaeger.api_v2 import model_pb2
from otel_lite.collector.receivers.jaeger import jaeger_thrift as jt
from otel_lite.collector.receivers.jaeger_translate import BadInput, proto_batches_to_request, thrift_batch_to_request

# Thrift TagType / proto ValueType numbers differ: build both from one neutral description
_T_TYPES = {str: 0, float: 1, bool: 2, int: 3, bytes: 4}
_P_TYPES = {str: 0, bool: 1, int: 2, float: 3, bytes: 4}
_T_FIELDS = {str: "vStr", float: "vDouble", bool: "vBool", int: "vLong", bytes: "vBinary"}
_P_FIELDS = {str: "v_str", bool: "v_bool", int: "v_int64", float: "v_float64", bytes: "v_binary"}

START_US = 1_700_000_000_123_456
TRACE_HIGH, TRACE_LOW, SPAN, PARENT = 0x0123456789ABCDEF, -0x1122334455667788, 0x42, 0x41


def t_tags(tags: dict):
    return [jt.Tag(key=k, vType=_T_TYPES[type(v)], **{_T_FIELDS[type(v)]: v}) for k, v in tags.items()]


def p_tags(tags: dict):
    return [model_pb2.KeyValue(key=k, v_type=_P_TYPES[type(v)], **{_P_FIELDS[type(v)]: v}) for k, v in tags.items()]


def ids(high, low):
    return struct.pack(">qq", high, low)


def sid(v):
    return struct.pack(">q", v)


def thrift_batch(span: dict, process: dict | None = None):
    """``span``: neutral description (keys as below); returns a Thrift Batch."""
    refs = [jt.SpanRef(refType=rt, traceIdHigh=h, traceIdLow=lo, spanId=s) for rt, h, lo, s in span.get("refs", ())]
    logs = [jt.Log(timestamp=ts, fields=t_tags(f)) for ts, f in span.get("logs", ())]
    s = jt.Span(
        traceIdHigh=span.get("high", TRACE_HIGH),
        traceIdLow=span.get("low", TRACE_LOW),
        spanId=span.get("span", SPAN),
        parentSpanId=span.get("parent", 0),
        operationName="op",
        references=refs or None,
        flags=span.get("flags", 1),
        startTime=START_US,
        duration=250,
        tags=t_tags(span.get("tags", {})),
        logs=logs or None,
    )
    process = process or {"service": "svc", "tags": {}}
    return jt.Batch(process=jt.Process(serviceName=process["service"], tags=t_tags(process["tags"])), spans=[s])


def proto_batch(span: dict, process: dict | None = None):
    refs = [
        model_pb2.SpanRef(ref_type=rt, trace_id=ids(h, lo), span_id=sid(s)) for rt, h, lo, s in span.get("refs", ())
    ]
    if span.get("parent"):  # proto has no parentSpanId: senders put the parent first as CHILD_OF
        refs.insert(
            0,
            model_pb2.SpanRef(
                ref_type=0,
                trace_id=ids(span.get("high", TRACE_HIGH), span.get("low", TRACE_LOW)),
                span_id=sid(span["parent"]),
            ),
        )
    logs = [
        model_pb2.Log(timestamp={"seconds": ts // 1_000_000, "nanos": ts % 1_000_000 * 1000}, fields=p_tags(f))
        for ts, f in span.get("logs", ())
    ]
    s = model_pb2.Span(
        trace_id=ids(span.get("high", TRACE_HIGH), span.get("low", TRACE_LOW)),
        span_id=sid(span.get("span", SPAN)),
        operation_name="op",
        references=refs,
        flags=span.get("flags", 1),
        start_time={"seconds": START_US // 1_000_000, "nanos": START_US % 1_000_000 * 1000},
        duration={"nanos": 250_000},
        tags=p_tags(span.get("tags", {})),
        logs=logs,
    )
    process = process or {"service": "svc", "tags": {}}
    return model_pb2.Batch(
        process=model_pb2.Process(service_name=process["service"], tags=p_tags(process["tags"])), spans=[s]
    )


def translate(fmt: str, span: dict, process: dict | None = None):
    if fmt == "thrift":
        req, n = thrift_batch_to_request(thrift_batch(span, process))
    else:
        req, n = proto_batches_to_request([proto_batch(span, process)])
    assert n == 1
    (rs,) = req.resource_spans
    (ss,) = rs.scope_spans
    (out,) = ss.spans
    return rs, ss, out


def attrs(kvs) -> dict:
    out = {}
    for kv in kvs:
        which = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, which) if which else None
    return out


# (id, span description, process or None, check(resource_spans, scope_spans, span))
CASES = [
    (
        "128-bit trace id from high/low",
        {},
        None,
        lambda rs, ss, s: s.trace_id == ids(TRACE_HIGH, TRACE_LOW) and s.span_id == sid(SPAN),
    ),
    (
        "64-bit trace id leaves the high half zero",
        {"high": 0, "low": 7},
        None,
        lambda rs, ss, s: s.trace_id == bytes(15) + b"\x07",
    ),
    ("no parent: empty parent_span_id", {}, None, lambda rs, ss, s: s.parent_span_id == b""),
    (
        "parent span id",
        {"parent": PARENT},
        None,
        lambda rs, ss, s: s.parent_span_id == sid(PARENT) and len(s.links) == 0,
    ),
    (
        "first CHILD_OF reference is the parent",
        {"refs": [(1, 5, 5, 9), (0, TRACE_HIGH, TRACE_LOW, 77)]},
        None,
        lambda rs, ss, s: (
            s.parent_span_id == sid(77)
            and [(ln.span_id, attrs(ln.attributes)) for ln in s.links]
            == [(sid(9), {"opentracing.ref_type": "follows_from"})]
        ),
    ),
    (
        "other references become links",
        {"parent": PARENT, "refs": [(0, 1, 2, 3), (1, 4, 5, 6)]},
        None,
        lambda rs, ss, s: (
            s.parent_span_id == sid(PARENT)
            and [(ln.trace_id, ln.span_id, attrs(ln.attributes)["opentracing.ref_type"]) for ln in s.links]
            == [(ids(1, 2), sid(3), "child_of"), (ids(4, 5), sid(6), "follows_from")]
        ),
    ),
    (
        "tag types kept",
        {"tags": {"s": "v", "d": 1.5, "b": True, "l": -3, "bin": b"\x00\x01"}},
        None,
        lambda rs, ss, s: attrs(s.attributes) == {"s": "v", "d": 1.5, "b": True, "l": -3, "bin": b"\x00\x01"},
    ),
    (
        "span.kind tag -> kind, removed",
        {"tags": {"span.kind": "client", "x": 1}},
        None,
        lambda rs, ss, s: s.kind == Span.SPAN_KIND_CLIENT and attrs(s.attributes) == {"x": 1},
    ),
    (
        "unknown span.kind -> unspecified",
        {"tags": {"span.kind": "weird"}},
        None,
        lambda rs, ss, s: s.kind == Span.SPAN_KIND_UNSPECIFIED and not s.attributes,
    ),
    (
        "producer / consumer kinds",
        {"tags": {"span.kind": "producer"}},
        None,
        lambda rs, ss, s: s.kind == Span.SPAN_KIND_PRODUCER,
    ),
    (
        "error=true -> ERROR status, removed",
        {"tags": {"error": True}},
        None,
        lambda rs, ss, s: s.status.code == Status.STATUS_CODE_ERROR and not s.attributes,
    ),
    (
        "error=false kept as attribute, status unset",
        {"tags": {"error": False}},
        None,
        lambda rs, ss, s: s.status.code == Status.STATUS_CODE_UNSET and attrs(s.attributes) == {"error": False},
    ),
    (
        "error with otel.status_description message",
        {"tags": {"error": True, "otel.status_description": "boom"}},
        None,
        lambda rs, ss, s: (s.status.code, s.status.message) == (Status.STATUS_CODE_ERROR, "boom") and not s.attributes,
    ),
    (
        "otel.status_code OK",
        {"tags": {"otel.status_code": "OK"}},
        None,
        lambda rs, ss, s: s.status.code == Status.STATUS_CODE_OK and not s.attributes,
    ),
    (
        "otel.status_code ERROR + description",
        {"tags": {"otel.status_code": "ERROR", "otel.status_description": "bad"}},
        None,
        lambda rs, ss, s: (s.status.code, s.status.message) == (Status.STATUS_CODE_ERROR, "bad") and not s.attributes,
    ),
    (
        "error tag beats otel.status_code",
        {"tags": {"error": True, "otel.status_code": "OK"}},
        None,
        lambda rs, ss, s: s.status.code == Status.STATUS_CODE_ERROR and not s.attributes,
    ),
    (
        "http 500 -> ERROR, kept",
        {"tags": {"http.status_code": 500}},
        None,
        lambda rs, ss, s: (
            s.status.code == Status.STATUS_CODE_ERROR and attrs(s.attributes) == {"http.status_code": 500}
        ),
    ),
    (
        "server 404 stays unset",
        {"tags": {"http.status_code": 404, "span.kind": "server"}},
        None,
        lambda rs, ss, s: s.status.code == Status.STATUS_CODE_UNSET,
    ),
    (
        "client 404 -> ERROR",
        {"tags": {"http.status_code": "404", "span.kind": "client"}},
        None,
        lambda rs, ss, s: s.status.code == Status.STATUS_CODE_ERROR,
    ),
    (
        "w3c.tracestate -> trace_state",
        {"tags": {"w3c.tracestate": "a=b"}},
        None,
        lambda rs, ss, s: s.trace_state == "a=b" and not s.attributes,
    ),
    (
        "otel.scope.* -> scope",
        {"tags": {"otel.scope.name": "lib", "otel.scope.version": "1.2"}},
        None,
        lambda rs, ss, s: (ss.scope.name, ss.scope.version) == ("lib", "1.2") and not s.attributes,
    ),
    (
        "otel.library.* -> scope",
        {"tags": {"otel.library.name": "old", "otel.library.version": "0.1"}},
        None,
        lambda rs, ss, s: (ss.scope.name, ss.scope.version) == ("old", "0.1"),
    ),
    (
        "logs -> events named by 'event'",
        {"logs": [(START_US + 5, {"event": "retry", "n": 2})]},
        None,
        lambda rs, ss, s: (
            [(e.time_unix_nano, e.name, attrs(e.attributes)) for e in s.events]
            == [((START_US + 5) * 1000, "retry", {"n": 2})]
        ),
    ),
    (
        "log without 'event' -> name 'event'",
        {"logs": [(START_US, {"message": "hi"})]},
        None,
        lambda rs, ss, s: [(e.name, attrs(e.attributes)) for e in s.events] == [("event", {"message": "hi"})],
    ),
    (
        "timestamps µs -> ns",
        {},
        None,
        lambda rs, ss, s: (s.start_time_unix_nano, s.end_time_unix_nano) == (START_US * 1000, (START_US + 250) * 1000),
    ),
    ("sampled flag", {"flags": 1}, None, lambda rs, ss, s: s.flags == 1),
    ("unsampled / debug-only flags", {"flags": 2}, None, lambda rs, ss, s: s.flags == 0),
    (
        "service name + process tags -> resource",
        {},
        {"service": "checkout", "tags": {"ip": "10.0.0.1", "pid": 7}},
        lambda rs, ss, s: attrs(rs.resource.attributes) == {"service.name": "checkout", "ip": "10.0.0.1", "pid": 7},
    ),
    (
        "hostname -> host.name, jaeger.version -> opencensus.exporterversion",
        {},
        {"service": "svc", "tags": {"hostname": "h1", "jaeger.version": "Python-4.8.0"}},
        lambda rs, ss, s: (
            attrs(rs.resource.attributes)
            == {"service.name": "svc", "host.name": "h1", "opencensus.exporterversion": "Jaeger-Python-4.8.0"}
        ),
    ),
    (
        "empty service name -> no service.name",
        {},
        {"service": "", "tags": {}},
        lambda rs, ss, s: not rs.resource.attributes,
    ),
]


@pytest.mark.parametrize("fmt", ["thrift", "proto"])
@pytest.mark.parametrize("name,span,process,check", CASES, ids=[c[0] for c in CASES])
def test_mapping(fmt, name, span, process, check):
    rs, ss, s = translate(fmt, span, process)
    assert s.name == "op"
    assert check(rs, ss, s), (name, rs)


def test_spans_of_different_scopes_share_the_resource():
    batch = thrift_batch({"tags": {"otel.scope.name": "a"}})
    batch.spans.append(thrift_batch({"span": 2, "tags": {"otel.scope.name": "b"}}).spans[0])
    batch.spans.append(thrift_batch({"span": 3, "tags": {"otel.scope.name": "a"}}).spans[0])
    req, n = thrift_batch_to_request(batch)
    assert n == 3 and len(req.resource_spans) == 1
    assert [(ss.scope.name, len(ss.spans)) for ss in req.resource_spans[0].scope_spans] == [("a", 2), ("b", 1)]


def test_proto_span_with_its_own_process_gets_its_own_resource():
    batch = proto_batch({})
    other = proto_batch({"span": 9}).spans[0]
    other.process.service_name = "other"
    batch.spans.append(other)
    req, n = proto_batches_to_request([batch])
    assert n == 2
    assert sorted(attrs(rs.resource.attributes)["service.name"] for rs in req.resource_spans) == ["other", "svc"]


def test_proto_timestamps_keep_nanoseconds():
    batch = proto_batch({})
    batch.spans[0].start_time.nanos += 7
    req, _ = proto_batches_to_request([batch])
    assert req.resource_spans[0].scope_spans[0].spans[0].start_time_unix_nano == START_US * 1000 + 7


def test_empty_batches_translate_to_nothing():
    assert thrift_batch_to_request(jt.Batch(process=jt.Process(serviceName="s"), spans=[]))[1] == 0
    assert proto_batches_to_request([model_pb2.Batch()])[1] == 0


@pytest.mark.parametrize("field,value", [("trace_id", b"\x01" * 5), ("span_id", b"\x01" * 3)])
def test_proto_ids_of_wrong_length_are_bad_input(field, value):
    batch = proto_batch({})
    setattr(batch.spans[0], field, value)
    with pytest.raises(BadInput):
        proto_batches_to_request([batch])


def test_thrift_ids_out_of_range_are_bad_input():
    batch = thrift_batch({"span": 1 << 64})
    with pytest.raises(BadInput):
        thrift_batch_to_request(batch)


def _drop_process(b):
    b.process = None


def _drop_spans(b):
    b.spans = None


def _drop_name(b):
    b.spans[0].operationName = None


def _drop_tag_type(b):
    b.spans[0].tags[0].vType = None


def _drop_log_time(b):
    b.spans[0].logs[0].timestamp = None


def _drop_ref_span(b):
    b.spans[0].references[0].spanId = None


@pytest.mark.parametrize(
    "mutate", [_drop_process, _drop_spans, _drop_name, _drop_tag_type, _drop_log_time, _drop_ref_span]
)
def test_thrift_missing_required_fields_are_bad_input(mutate):
    # thriftpy2 leaves absent required fields None; Go's readers refuse such data, so do we
    b = thrift_batch({"tags": {"k": "v"}, "logs": [(START_US, {"a": 1})], "refs": [(1, 1, 2, 3)]})
    thrift_batch_to_request(b)  # complete: fine
    mutate(b)
    with pytest.raises(BadInput):
        thrift_batch_to_request(b)
