"""An unmodified OpenTelemetry instrumentation library runs on otel_lite."""

from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.trace import SpanKind
from opentelemetry.trace.status import StatusCode

import otel_lite


def test_fastapi_instrumentation_records_server_spans():
    exporter = otel_lite.InMemorySpanExporter()
    provider = otel_lite.TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(otel_lite.SimpleSpanProcessor(exporter))
    app = FastAPI()

    @app.get("/cart/{item}")
    def cart(item: str):
        return {"item": item}

    @app.get("/fail")
    def fail():
        raise RuntimeError("boom")

    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
    try:
        client = TestClient(app, raise_server_exceptions=False)
        traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        assert client.get("/cart/42", headers={"traceparent": traceparent}).json() == {"item": "42"}
        assert client.get("/fail").status_code == 500
    finally:
        FastAPIInstrumentor.uninstrument_app(app)
    spans = exporter.get_finished_spans()
    servers = [s for s in spans if s.kind is SpanKind.SERVER]
    assert [s.name for s in servers] == ["GET /cart/{item}", "GET /fail"]
    cart_span = servers[0]
    assert cart_span.attributes["http.route"] == "/cart/{item}"
    assert cart_span.context.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert cart_span.parent.span_id == 0xB7AD6B7169203331 and cart_span.parent.is_remote
    assert servers[1].status.status_code is StatusCode.ERROR
    # the ASGI layer's internal send/receive spans are children of the server span
    assert any(s.parent and s.parent.span_id == cart_span.context.span_id for s in spans if s is not cart_span)
