"""OpenTracing 2.x API on OpenTelemetry (the "OpenTracing compatibility" spec).

    from otel_lite.shims.opentracing import create_tracer
    import opentracing
    opentracing.tracer = create_tracer()          # the global TracerProvider

Spans are OpenTelemetry spans of the given provider; the scope manager, active
span and baggage live in the OpenTelemetry context (contextvars), so OpenTracing,
OpenTelemetry and OpenCensus (through ``otel_lite.shims.opencensus``) code in one process
share one current span and one baggage.  Only ``opentelemetry-api`` is used.
"""

from .propagation import BINARY_MAX_BYTES
from .scope_manager import ScopeManagerShim, ScopeShim
from .span import SpanContextShim, SpanShim
from .tracer import SCOPE_NAME, TracerShim, create_tracer

__all__ = [
    "create_tracer",
    "TracerShim",
    "SpanShim",
    "SpanContextShim",
    "ScopeShim",
    "ScopeManagerShim",
    "SCOPE_NAME",
    "BINARY_MAX_BYTES",
]
