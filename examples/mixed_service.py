"""One process using OpenTelemetry, OpenTracing and OpenCensus at once, all recorded
by otel_lite into the same traces.

    otel-lite-collector &                          # OTLP on 127.0.0.1:4317 / 4318
    python examples/mixed_service.py               # or: --requests 20
    OTEL_TRACES_EXPORTER=console python examples/mixed_service.py   # no collector: print the spans

A new OpenTelemetry handler calls a legacy OpenTracing library, which calls a legacy
OpenCensus data layer, which is traced again with OpenTelemetry: every request is a
single four-span trace, and the OpenTracing baggage is visible to OpenTelemetry code.
"""

from __future__ import annotations

import argparse

import opentracing
from opencensus.trace import execution_context
from opencensus.trace.tracer import Tracer as OpenCensusTracer
from opentelemetry import baggage, trace

import otel_lite
from otel_lite.shims.opencensus import install_shim, uninstall_shim
from otel_lite.shims.opentracing import create_tracer


def data_layer(key: str) -> str:  # legacy OpenCensus code
    tracer = execution_context.get_opencensus_tracer()
    with tracer.span("cache lookup") as span:
        span.add_attribute("cache.key", key)
        with trace.get_tracer("mixed.storage").start_as_current_span("storage read") as read:
            read.set_attribute("tenant", baggage.get_baggage("tenant") or "")  # set through OpenTracing
        return key.upper()


def legacy_library(key: str) -> str:  # legacy OpenTracing code
    with opentracing.global_tracer().start_active_span("legacy.fetch") as scope:
        scope.span.set_baggage_item("tenant", "acme")
        return data_layer(key)


def handle(request_id: int) -> str:  # new OpenTelemetry code
    with trace.get_tracer("mixed.handler").start_as_current_span("handle request") as span:
        span.set_attribute("request.id", request_id)
        OpenCensusTracer()  # what OpenCensus middleware would do per request
        return legacy_library(f"item-{request_id}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5)
    args = parser.parse_args()

    provider = otel_lite.configure(service_name="mixed-service")  # also the global TracerProvider
    opentracing.set_global_tracer(create_tracer())
    install_shim()
    try:
        for i in range(args.requests):
            print(handle(i))
    finally:
        uninstall_shim()
        provider.shutdown()
    print(f"sent {args.requests * 4} spans as service 'mixed-service'")


if __name__ == "__main__":
    main()
