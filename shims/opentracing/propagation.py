"""Inject/extract for the OpenTracing formats.

``TEXT_MAP`` and ``HTTP_HEADERS`` go through the tracer's explicit propagator
for that format, else the global OpenTelemetry text-map propagator at call
time (W3C tracecontext + baggage by default; B3, Jaeger ... when
``OTEL_PROPAGATORS`` or ``propagate.set_global_textmap`` says so).  The span
and its baggage are both carried; baggage is injected even without a valid
span (the spec).  ``HTTP_HEADERS`` extraction ignores header-name case.

``BINARY`` uses a fixed encoding, independent of the configured propagators,
so both ends always agree.  Written into (appended to) the ``bytearray``
carrier::

    byte 0        version, 0x01
    bytes 1..4    N, unsigned 32-bit big-endian
    bytes 5..5+N  UTF-8 JSON object of W3C headers:
                  {"traceparent": "00-<trace>-<span>-<flags>",
                   "tracestate": "...", "baggage": "k=v,..."}  (each optional)

Extracting reads the first such record.  An empty carrier yields ``None``;
a truncated or malformed record, or one over ``BINARY_MAX_BYTES``, raises
``opentracing.SpanContextCorruptedException``; a carrier that is not bytes-like
raises ``opentracing.InvalidCarrierException``.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping

import opentracing
from opentelemetry import baggage as baggage_api
from opentelemetry import propagate
from opentelemetry import trace as trace_api
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentracing import Format

from .span import SpanContextShim

BINARY_VERSION = 1
BINARY_MAX_BYTES = 16 * 1024  # W3C baggage is limited to 8192 bytes; headers fit well within this
_HEADER = struct.Struct(">BI")
_W3C_PROPAGATOR: list = []  # built on first BINARY use: the shims import nothing of otel_lite's SDK


def _w3c():
    """otel_lite's W3C Trace Context propagator and the baggage one, for the BINARY format."""
    if not _W3C_PROPAGATOR:
        from otel_lite.propagation import TraceContextPropagator

        _W3C_PROPAGATOR.append(CompositePropagator([TraceContextPropagator(), W3CBaggagePropagator()]))
    return _W3C_PROPAGATOR[0]


_TEXT_FORMATS = (Format.TEXT_MAP, Format.HTTP_HEADERS)


class _CaseInsensitiveGetter:
    """HTTP header names are case-insensitive; OpenTelemetry propagators ask
    for lower-case names."""

    def __init__(self, carrier):
        self._lower = {str(k).lower(): v for k, v in carrier.items()}

    def get(self, carrier, key):
        value = self._lower.get(key.lower())
        if value is None:
            return None
        return list(value) if isinstance(value, (list, tuple)) else [value]

    def keys(self, carrier):
        return list(self._lower)


def _otel_context(span_context: SpanContextShim) -> Context:
    context = trace_api.set_span_in_context(trace_api.NonRecordingSpan(span_context.unwrap()), Context())
    for key, value in span_context.baggage.items():
        context = baggage_api.set_baggage(key, value, context)
    return context


def _span_context_from(context: Context) -> SpanContextShim | None:
    otel_context = trace_api.get_current_span(context).get_span_context()
    baggage = baggage_api.get_all(context)
    if not otel_context.is_valid and not baggage:
        return None
    return SpanContextShim(otel_context, baggage)


def inject(tracer, span_context, format, carrier) -> None:
    if format not in _TEXT_FORMATS and format != Format.BINARY:
        raise opentracing.UnsupportedFormatException(format)
    if span_context is None:
        return
    if not isinstance(span_context, SpanContextShim):
        raise opentracing.InvalidCarrierException(
            f"cannot inject a {type(span_context).__name__}: not a span context of this tracer"
        )
    context = _otel_context(span_context)
    if format == Format.BINARY:
        if not isinstance(carrier, bytearray):
            raise opentracing.InvalidCarrierException("BINARY carrier must be a bytearray")
        headers: dict = {}
        _w3c().inject(headers, context=context)
        payload = json.dumps(headers, separators=(",", ":")).encode()
        carrier.extend(_HEADER.pack(BINARY_VERSION, len(payload)))
        carrier.extend(payload)
        return
    if not hasattr(carrier, "__setitem__"):
        raise opentracing.InvalidCarrierException(f"{format} carrier must be a dict-like object")
    tracer._propagator(format).inject(carrier, context=context)


def extract(tracer, format, carrier) -> SpanContextShim | None:
    if format == Format.BINARY:
        return _extract_binary(carrier)
    if format not in _TEXT_FORMATS:
        raise opentracing.UnsupportedFormatException(format)
    if not (isinstance(carrier, Mapping) or (hasattr(carrier, "items") and hasattr(carrier, "get"))):
        raise opentracing.InvalidCarrierException(f"{format} carrier must be a mapping")
    if not carrier:
        return None
    getter = _CaseInsensitiveGetter(carrier) if format == Format.HTTP_HEADERS else None
    propagator = tracer._propagator(format)
    if getter is None:
        context = propagator.extract(carrier, context=Context())
    else:
        context = propagator.extract(carrier, context=Context(), getter=getter)
    return _span_context_from(context)


def _extract_binary(carrier) -> SpanContextShim | None:
    if not isinstance(carrier, (bytes, bytearray, memoryview)):
        raise opentracing.InvalidCarrierException("BINARY carrier must be bytes-like")
    data = bytes(carrier[: _HEADER.size + BINARY_MAX_BYTES])
    if not data:
        return None
    if len(data) < _HEADER.size:
        raise opentracing.SpanContextCorruptedException("BINARY carrier truncated")
    version, length = _HEADER.unpack_from(data)
    if version != BINARY_VERSION:
        raise opentracing.SpanContextCorruptedException(f"unknown BINARY encoding version {version}")
    if length > BINARY_MAX_BYTES:
        raise opentracing.SpanContextCorruptedException(
            f"BINARY span context of {length} bytes exceeds the {BINARY_MAX_BYTES}-byte limit"
        )
    payload = data[_HEADER.size : _HEADER.size + length]
    if len(payload) != length:
        raise opentracing.SpanContextCorruptedException("BINARY carrier truncated")
    try:
        headers = json.loads(payload.decode())
    except (UnicodeDecodeError, ValueError) as exc:
        raise opentracing.SpanContextCorruptedException(f"BINARY carrier is not valid: {exc}") from None
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise opentracing.SpanContextCorruptedException("BINARY carrier is not a header object")
    return _span_context_from(_w3c().extract(headers, context=Context()))


def default_propagator():
    return propagate.get_global_textmap()
