"""otel_lite.otlp.json_codec: OTLP/JSON with hex ids, both ways."""

from __future__ import annotations

import base64
import json
import os

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_lite.otlp import (
    SPAN_ID_SIZE,
    TRACE_ID_SIZE,
    OTLPJSONError,
    hex_to_id,
    id_to_hex,
    json_to_request,
    request_to_json,
    request_to_json_dict,
)


def make_request() -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.add(key="service.name").value.string_value = "checkout"
    ss = rs.scope_spans.add()
    ss.scope.name = "tests"
    for i in range(3):
        span = ss.spans.add(
            name=f"op-{i}",
            trace_id=os.urandom(16),
            span_id=os.urandom(8),
            kind=2,
            start_time_unix_nano=1_700_000_000_000_000_000 + i,
            end_time_unix_nano=1_700_000_000_100_000_000 + i,
        )
        if i:
            span.parent_span_id = ss.spans[0].span_id
        span.attributes.add(key="n").value.int_value = 2**62
        span.events.add(name="ev", time_unix_nano=5)
        span.links.add(trace_id=os.urandom(16), span_id=os.urandom(8))
        span.status.code = 2
    return request


@pytest.mark.parametrize("size", [TRACE_ID_SIZE, SPAN_ID_SIZE])
def test_hex_ids_round_trip(size):
    for _ in range(50):
        raw = os.urandom(size)
        assert hex_to_id(id_to_hex(raw), size) == raw
        assert hex_to_id(id_to_hex(raw).upper(), size) == raw
    assert id_to_hex(b"\x00" * 7 + b"\x01") == "0000000000000001"
    assert hex_to_id("", size) == b""  # the unset id


@pytest.mark.parametrize(
    "value, size, message",
    [
        ("ab" * 15 + "a", 16, "id must be 32 hex digits, got 31 characters"),
        ("ab" * 17, 16, "id must be 32 hex digits, got 34 characters"),
        ("ab" * 16, 8, "id must be 16 hex digits, got 32 characters"),  # a trace id where a span id goes
        ("zz" * 8, 8, "invalid hex id 'zzzz"),
        ("00 11 22 33 4455", 8, "id must be 8 bytes"),  # right length, but bytes.fromhex skips the spaces
        (12345, 8, "expected a hex string"),
        (None, 8, "expected a hex string"),
        (base64.b64encode(b"\x01" * 16).decode(), 16, "id must be 32 hex digits, got 24 characters"),  # base64
    ],
)
def test_bad_hex_ids_raise_clear_errors(value, size, message):
    with pytest.raises(OTLPJSONError, match="^span.traceId: " + message.replace("(", r"\(")):
        hex_to_id(value, size, "span.traceId")
    assert issubclass(OTLPJSONError, ValueError)


def test_request_round_trips_through_otlp_json():
    request = make_request()
    body = request_to_json(request)
    assert json_to_request(body) == request
    assert json_to_request(body.decode()) == request


def test_written_json_follows_the_otlp_rules():
    request = make_request()
    data = json.loads(request_to_json(request))
    assert data == request_to_json_dict(request)
    span = data["resourceSpans"][0]["scopeSpans"][0]["spans"][1]
    original = request.resource_spans[0].scope_spans[0].spans[1]
    assert span["traceId"] == original.trace_id.hex() and span["spanId"] == original.span_id.hex()
    assert span["parentSpanId"] == original.parent_span_id.hex()
    assert span["links"][0]["traceId"] == original.links[0].trace_id.hex()
    assert span["links"][0]["spanId"] == original.links[0].span_id.hex()
    assert span["kind"] == 2 and span["status"]["code"] == 2  # enums as integers
    assert span["attributes"][0]["value"]["intValue"] == str(2**62)  # 64-bit integers as strings
    assert b"\n" not in request_to_json(request)


def test_written_ids_are_hex_not_protobufs_base64():
    request = make_request()
    # protobuf's own JSON mapping reads the hex digits as base64 (other bytes): hex is OTLP's rule
    assert json_format.Parse(request_to_json(request), ExportTraceServiceRequest()) != request


def test_reading_accepts_proto_field_names_and_ignores_unknown_fields():
    trace_id, span_id = os.urandom(16), os.urandom(8)
    body = json.dumps(
        {
            "resource_spans": [
                {
                    "scope_spans": [
                        {
                            "spans": [
                                {
                                    "trace_id": trace_id.hex(),
                                    "span_id": span_id.hex(),
                                    "parent_span_id": "",
                                    "name": "x",
                                    "somethingNew": {"a": 1},
                                    "links": [{"trace_id": trace_id.hex(), "span_id": span_id.hex()}],
                                }
                            ]
                        }
                    ]
                }
            ],
            "futureField": True,
        }
    )
    span = json_to_request(body).resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id == trace_id and span.span_id == span_id and span.parent_span_id == b""
    assert span.links[0].trace_id == trace_id


@pytest.mark.parametrize(
    "body, message",
    [
        (b"not json", "invalid JSON"),
        (b"[]", "expected a JSON object"),
        (b'{"resourceSpans": {}}', "resourceSpans: expected a list"),
        (b'{"resourceSpans": [1]}', "resourceSpans: expected objects"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "abc"}]}]}]}',
            r"resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.traceId: id must be 32 hex digits",
        ),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "0011"}]}]}]}',
            r"spans\[0\]\.spanId: id must be 16 hex digits, got 4",
        ),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"links": [{"spanId": 5}]}]}]}]}',
            r"spans\[0\]\.links\[0\]\.spanId: expected a hex string",
        ),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 5}]}]}]}', "invalid OTLP JSON"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": 1e999}]}]}]}', "invalid OTLP JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid JSON"),
    ],
)
def test_bad_json_bodies_raise_clear_errors(body, message):
    with pytest.raises(OTLPJSONError, match=message):
        json_to_request(body)


# -- the writer is a direct walk: it must say exactly what protobuf's JSON mapping says ----------


def _reference_dict(request) -> dict:
    """protobuf's own mapping (integer enums), with the ids turned into hex."""
    data = json_format.MessageToDict(request, use_integers_for_enums=True)
    for rs in data.get("resourceSpans", ()):
        for ss in rs.get("scopeSpans", ()):
            for span in ss.get("spans", ()):
                for holder in [span, *span.get("links", [])]:
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if holder.get(key):
                            holder[key] = base64.b64decode(holder[key]).hex()
    return data


def _every_kind_of_value(kv_list, rnd, depth=0):
    """Attributes of every AnyValue kind (``rnd``: a random.Random), nested up to depth 2."""
    kinds = ["string", "int", "bool", "double", "bytes", "empty", "array", "kvlist", "novalue"]
    for i, kind in enumerate(kinds if depth == 0 else rnd.sample(kinds[:6], 3)):
        kv = kv_list.add(key="" if i == 0 and depth else f'k{i}-ü"\\\n')
        v = kv.value
        if kind == "string":
            v.string_value = rnd.choice(["", "plain", "ünïcødé ✓", 'quote" back\\slash \x01 ctl', "\u2028"])
        elif kind == "int":
            v.int_value = rnd.choice([0, -1, 2**63 - 1, -(2**63)])
        elif kind == "bool":
            v.bool_value = rnd.choice([True, False])
        elif kind == "double":
            v.double_value = rnd.choice(
                [0.0, -0.0, 1.0, 1e300, 1.5e-300, 0.1, float("nan"), float("inf"), float("-inf"), 123456789.125]
            )
        elif kind == "bytes":
            v.bytes_value = rnd.choice([b"", b"\x00\xff", bytes(range(40))])
        elif kind == "array":
            arr = v.array_value
            for _ in range(rnd.randint(0, 3)):
                arr.values.add().string_value = "x"
            if depth < 2:
                arr.values.add().kvlist_value.SetInParent()
        elif kind == "kvlist":
            if depth < 2:
                _every_kind_of_value(v.kvlist_value.values, rnd, depth + 1)
            else:
                v.kvlist_value.SetInParent()
        elif kind == "novalue":
            kv.ClearField("value")
        # "empty": the value message is set but holds nothing
        else:
            v.SetInParent()


@pytest.mark.parametrize("seed", range(25))
def test_writer_matches_protobufs_json_mapping(seed):
    import random

    rnd = random.Random(seed)
    request = ExportTraceServiceRequest()
    for _ in range(rnd.randint(0, 3)):
        rs = request.resource_spans.add()
        if rnd.random() < 0.8:
            rs.resource.SetInParent()
            if rnd.random() < 0.7:
                _every_kind_of_value(rs.resource.attributes, rnd)
            rs.resource.dropped_attributes_count = rnd.choice([0, 3])
        rs.schema_url = rnd.choice(["", "https://opentelemetry.io/schemas/1.21.0"])
        for _ in range(rnd.randint(0, 3)):
            ss = rs.scope_spans.add()
            if rnd.random() < 0.8:
                ss.scope.SetInParent()
                ss.scope.name = rnd.choice(["", "lib"])
                ss.scope.version = rnd.choice(["", "1.0"])
                if rnd.random() < 0.3:
                    _every_kind_of_value(ss.scope.attributes, rnd)
            ss.schema_url = rnd.choice(["", "s"])
            for _ in range(rnd.randint(0, 4)):
                span = ss.spans.add()
                span.trace_id = rnd.choice([b"", rnd.randbytes(16)])
                span.span_id = rnd.choice([b"", rnd.randbytes(8)])
                span.parent_span_id = rnd.choice([b"", rnd.randbytes(8)])
                span.trace_state = rnd.choice(["", "ot=th:8"])
                span.flags = rnd.choice([0, 1, 0x301])
                span.name = rnd.choice(["", "GET /cart", "ü"])
                span.kind = rnd.randint(0, 5)
                span.start_time_unix_nano = rnd.choice([0, 1, 2**64 - 1])
                span.end_time_unix_nano = rnd.choice([0, 1_700_000_000_000_000_000])
                if rnd.random() < 0.5:
                    _every_kind_of_value(span.attributes, rnd)
                span.dropped_attributes_count = rnd.choice([0, 1])
                for _ in range(rnd.randint(0, 2)):
                    ev = span.events.add(name=rnd.choice(["", "ev"]), time_unix_nano=rnd.choice([0, 5]))
                    if rnd.random() < 0.5:
                        _every_kind_of_value(ev.attributes, rnd)
                    ev.dropped_attributes_count = rnd.choice([0, 2])
                span.dropped_events_count = rnd.choice([0, 4])
                for _ in range(rnd.randint(0, 2)):
                    link = span.links.add(
                        trace_id=rnd.choice([b"", rnd.randbytes(16)]),
                        span_id=rnd.choice([b"", rnd.randbytes(8)]),
                        trace_state=rnd.choice(["", "a=b"]),
                        flags=rnd.choice([0, 1]),
                    )
                    if rnd.random() < 0.5:
                        _every_kind_of_value(link.attributes, rnd)
                    link.dropped_attributes_count = rnd.choice([0, 1])
                span.dropped_links_count = rnd.choice([0, 7])
                if rnd.random() < 0.6:
                    span.status.SetInParent()
                    span.status.code = rnd.randint(0, 2)
                    span.status.message = rnd.choice(["", "boom"])
    ours = request_to_json_dict(request)
    reference = _reference_dict(request)
    # NaN never equals itself: compare the JSON texts, where protobuf writes "NaN"
    assert json.dumps(ours, sort_keys=True) == json.dumps(reference, sort_keys=True)
    assert json_to_request(request_to_json(request)) == request
