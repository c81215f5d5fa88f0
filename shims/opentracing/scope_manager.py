"""OpenTracing ScopeManager on the OpenTelemetry context (contextvars).

``activate`` attaches a context holding the OpenTelemetry span (so
OpenTelemetry and OpenCensus-shim code see it as current), the span's baggage
(as OpenTelemetry baggage) and the ``ScopeShim`` under a private key.
``active`` returns that very scope while its OpenTelemetry span is still the
current one; an OpenTelemetry span made current by other code is wrapped
instead, and baggage alone gives a no-op span carrying it (the spec).

Works per thread and per asyncio task, as contextvars do.  Closing a scope that
is not the active one does nothing (like OpenTracing's own managers): it
neither finishes the span nor disturbs the active scope.
"""

from __future__ import annotations

import logging

import opentracing
from opentelemetry import trace as trace_api

from .. import _context
from ._scope_key import SCOPE_KEY
from .span import SpanContextShim, SpanShim

_log = logging.getLogger(__name__)

_INVALID_SPAN = trace_api.INVALID_SPAN
_current = _context.current
_attach = _context.attach
_detach = _context.detach
_span_in = _context.span_in
_derive = _context.derive


class ScopeShim(opentracing.Scope):
    """The activation of one span in the current context."""

    __slots__ = ("_finish_on_close", "_otel_span", "_tokens")

    def __init__(self, manager, span, finish_on_close: bool, otel_span=None):
        super().__init__(manager, span)
        self._finish_on_close = finish_on_close
        self._otel_span = otel_span
        self._tokens: list = []  # context tokens to detach on close, innermost last

    def _is_active(self) -> bool:
        context = _current()
        return context.get(SCOPE_KEY) is self and _span_in(context) is self._otel_span

    def close(self):
        if not self._tokens:  # a wrapper from ``active`` or a second close: nothing attached
            return
        if not self._is_active():
            _log.debug("OpenTracing scope closed out of order; ignored")
            return
        tokens, self._tokens = self._tokens, []
        for token in reversed(tokens):
            _detach(token)
        if self._finish_on_close:
            self._span.finish()

    def publish_baggage(self, span) -> None:
        """After ``span.set_baggage_item``: if ``span`` is this scope's and the scope is
        the active one here, make its new baggage the current OpenTelemetry baggage
        (detached with the scope)."""
        if self._span is not span or not self._tokens or not self._is_active():
            return
        self._tokens.append(_attach(_derive(_current(), baggage=span.context.baggage)))


class ScopeManagerShim(opentracing.ScopeManager):
    """Scopes stored in the OpenTelemetry context of ``tracer``."""

    def __init__(self, tracer):
        super().__init__()
        self._tracer = tracer

    def activate(self, span, finish_on_close):
        context = _current()
        if isinstance(span, SpanShim):
            otel_span = span._otel_span
            baggage = span._context._baggage
            if baggage == _context.baggage_in(context):
                baggage = None  # already current: no need to replace it
        else:
            # A foreign OpenTracing span: no OpenTelemetry span behind it, so
            # mark "no current span" for OpenTelemetry code (the spec's null case).
            otel_span = _INVALID_SPAN
            baggage = None
        scope = ScopeShim(self, span, finish_on_close, otel_span)
        scope._tokens.append(_attach(_derive(context, otel_span, baggage, SCOPE_KEY, scope)))
        return scope

    @property
    def active(self):
        context = _current()
        scope = context.get(SCOPE_KEY)
        otel_span = _span_in(context)
        if scope is not None and scope._otel_span is otel_span:
            return scope
        return self._wrap_current(otel_span, _context.baggage_in(context))

    def _wrap_current(self, otel_span, baggage):
        """A scope for context set by non-OpenTracing code (nothing to close)."""
        otel_context = otel_span.get_span_context()
        if not otel_context.is_valid:
            if not baggage:
                return None
            otel_span = _INVALID_SPAN
        span = SpanShim(self._tracer, otel_span, SpanContextShim(otel_context, baggage))
        return ScopeShim(self, span, False)
