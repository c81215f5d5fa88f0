"""otel_lite: a fast OpenTelemetry tracing SDK behind ``opentelemetry-api``.

    import otel_lite
    provider = otel_lite.configure(service_name="checkout")
    # then use opentelemetry.trace as usual

The names below load their module on first use, so that importing a part of
the package (``otel_lite.otlp``, the OTLP protocol code the collector shares)
does not load the whole SDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .version import __version__

# name -> the module that defines it
_EXPORTS = {
    "configure": "._configure",
    "otlp_exporter": "._configure",
    "set_propagators": "._configure",
    "TracerProvider": ".provider",
    "Tracer": ".provider",
    "Span": ".span",
    "Event": ".span",
    "InstrumentationScope": ".span",
    "Resource": ".resource",
    "SpanLimits": ".limits",
    "SpanProcessor": ".processors",
    "SimpleSpanProcessor": ".processors",
    "BatchSpanProcessor": ".processors",
    "SpanExporter": ".export",
    "SpanExportResult": ".export",
    "InMemorySpanExporter": ".export",
    "ConsoleSpanExporter": ".export",
    "IdGenerator": ".ids",
    "RandomIdGenerator": ".ids",
    "Sampler": ".sampling",
    "SamplingResult": ".sampling",
    "Decision": ".sampling",
    "ALWAYS_ON": ".sampling",
    "ALWAYS_OFF": ".sampling",
    "DEFAULT_ON": ".sampling",
    "DEFAULT_OFF": ".sampling",
    "ParentBased": ".sampling",
    "TraceIdRatioBased": ".sampling",
    "ParentBasedTraceIdRatio": ".sampling",
    "sampler_from_name": ".sampling",
}

__all__ = [
    "configure",
    "TracerProvider",
    "Tracer",
    "Span",
    "Event",
    "InstrumentationScope",
    "Resource",
    "SpanLimits",
    "SpanProcessor",
    "SimpleSpanProcessor",
    "BatchSpanProcessor",
    "SpanExporter",
    "SpanExportResult",
    "InMemorySpanExporter",
    "ConsoleSpanExporter",
    "IdGenerator",
    "RandomIdGenerator",
    "Sampler",
    "SamplingResult",
    "Decision",
    "ALWAYS_ON",
    "ALWAYS_OFF",
    "DEFAULT_ON",
    "DEFAULT_OFF",
    "ParentBased",
    "TraceIdRatioBased",
    "ParentBasedTraceIdRatio",
    "__version__",
]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # what type checkers and IDEs see: the names as if imported here
    # `X as X`: names __getattr__ serves beyond __all__, re-exported for type checkers
    from ._configure import configure
    from ._configure import otlp_exporter as otlp_exporter
    from ._configure import set_propagators as set_propagators
    from .export import ConsoleSpanExporter, InMemorySpanExporter, SpanExporter, SpanExportResult
    from .ids import IdGenerator, RandomIdGenerator
    from .limits import SpanLimits
    from .processors import BatchSpanProcessor, SimpleSpanProcessor, SpanProcessor
    from .provider import Tracer, TracerProvider
    from .resource import Resource
    from .sampling import (
        ALWAYS_OFF,
        ALWAYS_ON,
        DEFAULT_OFF,
        DEFAULT_ON,
        Decision,
        ParentBased,
        ParentBasedTraceIdRatio,
        Sampler,
        SamplingResult,
        TraceIdRatioBased,
    )
    from .sampling import sampler_from_name as sampler_from_name
    from .span import Event, InstrumentationScope, Span
