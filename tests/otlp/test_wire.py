"""otel_lite.otlp.wire: protobuf framing of trace requests, checked against protobuf itself."""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1 import trace_pb2

from otel_lite.otlp import wire


def test_varints_match_protobuf():
    assert wire.varint(0) == b"\x00"
    for value in (1, 127, 128, 300, 4095, 4096, 16_383, 16_384, 2**32 - 1):
        # Span.dropped_attributes_count: field 10, a uint32 varint
        assert trace_pb2.Span(dropped_attributes_count=value).SerializeToString() == b"\x50" + wire.varint(value)
    for value in (2**32, 2**63, 2**64 - 1):
        assert wire.varint(value) == wire.varint_slow(value)
        assert len(wire.varint(value)) == (value.bit_length() + 6) // 7


def test_envelope_framing_equals_protobuf_serialization():
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add(schema_url="https://opentelemetry.io/schemas/1.21.0")
    rs.resource.attributes.add(key="service.name").value.string_value = "svc"
    ss = rs.scope_spans.add(schema_url="s")
    ss.scope.name = "lib"
    for i in range(3):
        ss.spans.add(name="x" * (i * 3000), trace_id=bytes(16), span_id=bytes([i + 1]) * 8)  # short and long lengths
    scope_spans = (
        wire.len_field(wire.T_SCOPE_SPANS_SCOPE, ss.scope.SerializeToString())
        + b"".join(wire.len_field(wire.T_SCOPE_SPANS_SPAN, span.SerializeToString()) for span in ss.spans)
        + wire.len_field(wire.T_SCHEMA_URL, ss.schema_url.encode())
    )
    resource_spans = (
        wire.len_field(wire.T_RESOURCE_SPANS_RESOURCE, rs.resource.SerializeToString())
        + wire.len_field(wire.T_RESOURCE_SPANS_SCOPE_SPANS, scope_spans)
        + wire.len_field(wire.T_SCHEMA_URL, rs.schema_url.encode())
    )
    assert wire.len_field(wire.T_REQUEST_RESOURCE_SPANS, resource_spans) == request.SerializeToString()
