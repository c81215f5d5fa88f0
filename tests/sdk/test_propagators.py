"""Propagators chosen by name, as OTEL_PROPAGATORS does."""

import pytest
from opentelemetry import baggage, context, propagate

import otel_lite


@pytest.fixture
def restore_propagator():
    saved = propagate.get_global_textmap()
    yield
    propagate.set_global_textmap(saved)


@pytest.mark.parametrize(
    "names,header",
    [
        (["tracecontext", "baggage"], "traceparent"),
        (["b3"], "b3"),
        (["b3multi"], "x-b3-traceid"),
        (["jaeger"], "uber-trace-id"),
    ],
)
def test_inject_extract_round_trip(restore_propagator, recorder, names, header):
    _, tracer, _ = recorder
    otel_lite.set_propagators(names)
    carrier: dict = {}
    with tracer.start_as_current_span("client") as span:
        propagate.inject(carrier)
    assert header in carrier
    ctx = propagate.extract(carrier)
    with tracer.start_as_current_span("server", context=ctx) as server:
        pass
    assert server.parent.trace_id == span.get_span_context().trace_id
    assert server.parent.span_id == span.get_span_context().span_id and server.parent.is_remote


def test_baggage_propagates(restore_propagator, recorder):
    otel_lite.set_propagators(["tracecontext", "baggage"])
    carrier: dict = {}
    token = context.attach(baggage.set_baggage("tenant", "a b"))
    try:
        propagate.inject(carrier)
    finally:
        context.detach(token)
    assert baggage.get_baggage("tenant", propagate.extract(carrier)) == "a b"


def test_unknown_propagator_is_skipped(restore_propagator, caplog):
    otel_lite.set_propagators(["nope", "tracecontext"])
    assert "nope" in caplog.text
    assert "traceparent" in propagate.get_global_textmap().fields
