"""Changing a span's kind after its start, for both shims.

The OpenTelemetry API fixes the kind at ``start_span``; OpenCensus integrations
(``span.span_kind = SERVER``) and Flask-OpenTracing-style code
(``span.set_tag("span.kind", "server")``) set it just after.  otel_lite spans
allow it until they end (``otel_lite.span.set_kind``); opentelemetry-sdk spans
keep the kind in ``_kind`` and are changed in place while recording.  Anything
else keeps its kind (False).  Samplers and ``on_start`` processors have already
seen the kind given at start.
"""

from __future__ import annotations

import logging

from opentelemetry.trace import SpanKind

_log = logging.getLogger(__name__)


def set_kind(otel_span, kind: SpanKind) -> bool:
    try:
        from otel_lite.span import Span
        from otel_lite.span import set_kind as otel_lite_set_kind

        if isinstance(otel_span, Span):
            return otel_lite_set_kind(otel_span, kind)
        # opentelemetry-sdk's span (or another SDK that keeps the kind the same way)
        if getattr(otel_span, "_kind", None) is None or not otel_span.is_recording():
            return False
        otel_span._kind = kind
        return True
    except Exception:  # never into application code
        _log.debug("span kind cannot be changed on %r", otel_span, exc_info=True)
        return False
