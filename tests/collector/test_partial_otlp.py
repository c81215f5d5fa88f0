"""Partial views re-serialize what they do not declare unchanged."""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_lite.collector.partial_otlp import SpanIdentityRequest


def test_undeclared_fields_survive_a_round_trip_and_edits():
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add(schema_url="r")
    rs.resource.attributes.add(key="service.name").value.string_value = "svc"
    ss = rs.scope_spans.add(schema_url="s")
    ss.scope.name = "lib"
    for i in range(3):
        span = ss.spans.add(
            trace_id=bytes([i + 1]) * 16,
            span_id=bytes([i + 1]) * 8,
            parent_span_id=b"\1" * 8,
            name=f"n{i}",
            kind=2,
            start_time_unix_nano=5,
            end_time_unix_nano=9,
            flags=0x100,
        )
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


def test_views_declare_real_otlp_fields_and_envelopes():
    from otel_lite.collector.partial_otlp import trace_request_view

    view = trace_request_view(frozenset({"trace_id", "attributes", "status"}), with_envelopes=True)
    assert view is trace_request_view(frozenset({"status", "attributes", "trace_id"}), with_envelopes=True)
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add(schema_url="r")
    rs.resource.attributes.add(key="service.name").value.string_value = "svc"
    ss = rs.scope_spans.add(schema_url="s")
    ss.scope.name = "lib"
    span = ss.spans.add(trace_id=b"\1" * 16, name="n", end_time_unix_nano=9)
    span.attributes.add(key="k").value.bool_value = True
    span.status.code = 2
    parsed = view.FromString(req.SerializeToString())
    got_rs = parsed.resource_spans[0]
    got_span = got_rs.scope_spans[0].spans[0]
    assert got_rs.schema_url == "r" and got_rs.resource.attributes[0].value.string_value == "svc"
    assert got_rs.scope_spans[0].scope.name == "lib" and got_rs.scope_spans[0].schema_url == "s"
    assert got_span.status.code == 2 and got_span.attributes[0].value.bool_value is True
    assert not hasattr(got_span, "name")  # undeclared: kept as unknown bytes
    assert ExportTraceServiceRequest.FromString(parsed.SerializeToString()) == req
