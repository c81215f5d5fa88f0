"""Partial views re-serialize what they do not declare unchanged."""
from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.partial_otlp import SpanIdentityRequest


def test_undeclared_fields_survive_a_round_trip_and_edits():
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add(schema_url="r")
    rs.resource.attributes.add(key="service.name").value.string_value = "svc"
    ss = rs.scope_spans.add(schema_url="s")
    ss.scope.name = "lib"
    for i in range(3):
        span = ss.spans.add(trace_id=bytes([i + 1]) * 16, span_id=bytes([i + 1]) * 8, parent_span_id=b"\1" * 8,
                            name=f"n{i}", kind=2, start_time_unix_nano=5, end_time_unix_nano=9, flags=0x100)
        span.attributes.add(key="k").value.array_value.values.add().double_value = 1.5
        span.events.add(name="e", time_unix_nano=7)
        span.status.code = 2
    raw = req.SerializeToString()

    view = SpanIdentityRequest.FromString(raw)
    assert ExportTraceServiceRequest.FromString(view.SerializeToString()) == req
    spans = view.resource_spans[0].scope_spans[0].spans
    assert [s.trace_id for s in spans] == [bytes([i + 1]) * 16 for i in range(3)]
    del spans[1]
    spans[0].trace_state = "ot=th:8"
    expected = ExportTraceServiceRequest.FromString(raw)
    del expected.resource_spans[0].scope_spans[0].spans[1]
    expected.resource_spans[0].scope_spans[0].spans[0].trace_state = "ot=th:8"
    assert ExportTraceServiceRequest.FromString(view.SerializeToString()) == expected
