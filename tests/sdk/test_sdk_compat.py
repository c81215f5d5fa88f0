"""What instrumentation test suites (and code written for opentelemetry-sdk) check, written like those
tests: a real instrumented library, an in-memory exporter, the assertions the library's users make.

- a ``Resource`` from opentelemetry-sdk given to the provider is the spans' resource, as it is;
- ``isinstance(span, opentelemetry.sdk.trace.Span)`` holds, without otel_lite importing opentelemetry-sdk;
- ``tracer._instrumentation_scope`` is the tracer's scope (opentelemetry-sdk's attribute name).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk import trace as sdk_trace
from opentelemetry.sdk.resources import Resource as SdkResource
from opentelemetry.trace import SpanKind

import otel_lite
from otel_lite.export.otlp_encode import encode_spans

ROOT = Path(__file__).resolve().parents[2]


def _instrumented_app_spans(provider) -> list:
    app = FastAPI()

    @app.get("/ping")
    def ping():
        return {"ok": True}

    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
    try:
        assert TestClient(app).get("/ping").status_code == 200
    finally:
        FastAPIInstrumentor.uninstrument_app(app)
    return provider.exporter.get_finished_spans()


def _provider(**kwargs):
    exporter = otel_lite.InMemorySpanExporter()
    provider = otel_lite.TracerProvider(shutdown_on_exit=False, **kwargs)
    provider.add_span_processor(otel_lite.SimpleSpanProcessor(exporter))
    provider.exporter = exporter
    return provider


def test_an_sdk_resource_is_the_spans_resource():
    resource = SdkResource.create({"service.name": "checkout", "deployment.environment": "test"})
    provider = _provider(resource=resource)
    spans = _instrumented_app_spans(provider)
    server = next(span for span in spans if span.kind is SpanKind.SERVER)
    # what the contrib suites assert (e.g. `self.assertEqual(span.resource, resource)`)
    assert server.resource is resource
    assert server.resource == resource
    assert isinstance(server.resource, SdkResource)
    assert provider.resource is resource
    assert server.resource.attributes["service.name"] == "checkout"


def test_an_sdk_resource_is_exported_with_its_attributes_and_schema_url():
    resource = SdkResource({"service.name": "checkout", "k": 1}, schema_url="https://opentelemetry.io/schemas/1.21.0")
    provider = _provider(resource=resource)
    provider.get_tracer("t").start_span("s").end()
    request = ExportTraceServiceRequest.FromString(encode_spans(provider.exporter.get_finished_spans()))
    (resource_spans,) = request.resource_spans
    attributes = {kv.key: kv.value for kv in resource_spans.resource.attributes}
    assert attributes["service.name"].string_value == "checkout" and attributes["k"].int_value == 1
    assert resource_spans.schema_url == "https://opentelemetry.io/schemas/1.21.0"


def test_configure_merges_service_name_into_an_sdk_resource():
    exporter = otel_lite.InMemorySpanExporter()
    provider = otel_lite.configure(
        service_name="svc", resource=SdkResource({"a": "b"}), exporter=exporter, set_global=False
    )
    try:
        assert dict(provider.resource.attributes) == {"a": "b", "service.name": "svc"}
    finally:
        provider.shutdown()


def test_spans_are_instances_of_the_sdk_span():
    provider = _provider()
    spans = _instrumented_app_spans(provider)
    assert spans and all(isinstance(span, sdk_trace.Span) for span in spans)
    live = provider.get_tracer("t").start_span("live")
    assert isinstance(live, sdk_trace.Span)
    live.end()


def test_the_sdk_span_registration_imports_nothing_and_happens_when_the_sdk_is_imported():
    code = textwrap.dedent("""
        import sys
        import otel_lite
        provider = otel_lite.TracerProvider(shutdown_on_exit=False)
        span = provider.get_tracer("t").start_span("s")
        span.end()
        assert not any(name.startswith("opentelemetry.sdk") for name in sys.modules), "sdk imported"
        from opentelemetry.sdk.trace import Span
        assert isinstance(span, Span)
        assert not any(type(f).__name__ == "_RegisterOnImport" for f in sys.meta_path), "hook left behind"
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_tracer_instrumentation_scope_has_the_sdk_name():
    provider = _provider()
    tracer = provider.get_tracer("my.library", "1.2.3", schema_url="https://example.com/schema")
    assert tracer._instrumentation_scope is tracer.instrumentation_scope
    assert (tracer._instrumentation_scope.name, tracer._instrumentation_scope.version) == ("my.library", "1.2.3")
    span = tracer.start_span("s")
    span.end()
    assert span.instrumentation_scope == tracer._instrumentation_scope
