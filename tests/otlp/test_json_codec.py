"""otel_lite.otlp.json_codec: OTLP/JSON with hex ids, both ways."""
from __future__ import annotations

import base64
import json
import os

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_lite.otlp import (SPAN_ID_SIZE, TRACE_ID_SIZE, OTLPJSONError, hex_to_id, id_to_hex, json_to_request,
                            request_to_json, request_to_json_dict)


def make_request() -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.add(key="service.name").value.string_value = "checkout"
    ss = rs.scope_spans.add()
    ss.scope.name = "tests"
    for i in range(3):
        span = ss.spans.add(name=f"op-{i}", trace_id=os.urandom(16), span_id=os.urandom(8), kind=2,
                            start_time_unix_nano=1_700_000_000_000_000_000 + i,
                            end_time_unix_nano=1_700_000_000_100_000_000 + i)
        if i:
            span.parent_span_id = ss.spans[0].span_id
        span.attributes.add(key="n").value.int_value = 2 ** 62
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


@pytest.mark.parametrize("value, size, message", [
    ("ab" * 15 + "a", 16, "id must be 32 hex digits, got 31 characters"),
    ("ab" * 17, 16, "id must be 32 hex digits, got 34 characters"),
    ("ab" * 16, 8, "id must be 16 hex digits, got 32 characters"),  # a trace id where a span id goes
    ("zz" * 8, 8, "invalid hex id 'zzzz"),
    ("00 11 22 33 4455", 8, "id must be 8 bytes"),  # right length, but bytes.fromhex skips the spaces
    (12345, 8, "expected a hex string"),
    (None, 8, "expected a hex string"),
    (base64.b64encode(b"\x01" * 16).decode(), 16, "id must be 32 hex digits, got 24 characters"),  # base64
])
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
    assert span["attributes"][0]["value"]["intValue"] == str(2 ** 62)  # 64-bit integers as strings
    assert b"\n" not in request_to_json(request)


def test_written_ids_are_hex_not_protobufs_base64():
    request = make_request()
    # protobuf's own JSON mapping reads the hex digits as base64 (other bytes): hex is OTLP's rule
    assert json_format.Parse(request_to_json(request), ExportTraceServiceRequest()) != request


def test_reading_accepts_proto_field_names_and_ignores_unknown_fields():
    trace_id, span_id = os.urandom(16), os.urandom(8)
    body = json.dumps({"resource_spans": [{"scope_spans": [{"spans": [
        {"trace_id": trace_id.hex(), "span_id": span_id.hex(), "parent_span_id": "", "name": "x",
         "somethingNew": {"a": 1}, "links": [{"trace_id": trace_id.hex(), "span_id": span_id.hex()}]}]}]}],
        "futureField": True})
    span = json_to_request(body).resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id == trace_id and span.span_id == span_id and span.parent_span_id == b""
    assert span.links[0].trace_id == trace_id


@pytest.mark.parametrize("body, message", [
    (b"not json", "invalid JSON"),
    (b"[]", "expected a JSON object"),
    (b'{"resourceSpans": {}}', "resourceSpans: expected a list"),
    (b'{"resourceSpans": [1]}', "resourceSpans: expected objects"),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "abc"}]}]}]}',
     r"resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.traceId: id must be 32 hex digits"),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "0011"}]}]}]}',
     r"spans\[0\]\.spanId: id must be 16 hex digits, got 4"),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"links": [{"spanId": 5}]}]}]}]}',
     r"spans\[0\]\.links\[0\]\.spanId: expected a hex string"),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 5}]}]}]}', "invalid OTLP JSON"),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": 1e999}]}]}]}', "invalid OTLP JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "invalid JSON"),
])
def test_bad_json_bodies_raise_clear_errors(body, message):
    with pytest.raises(OTLPJSONError, match=message):
        json_to_request(body)
