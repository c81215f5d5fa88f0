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
import threading

import opentracing
from opentelemetry import trace as trace_api

from .. import _context
from ._scope_key import SCOPE_KEY
from .span import SpanContextShim, SpanShim

_log = logging.getLogger(__name__)
_MAKE_LOCK = threading.Lock()

_INVALID_SPAN = trace_api.INVALID_SPAN
_current = _context.current
_attach = _context.attach
_detach = _context.detach
_span_in = _context.span_in
_derive = _context.derive
_with_span = _context.with_span
_FAST = _context.FAST
_SPAN_KEY = _context.SPAN_KEY if _FAST else None  # FAST: the span is read straight from the context
_reset = _context._reset if _FAST else None


class ScopeShim(opentracing.Scope):
    """The activation of one span in the current context.

    A scope from ``start_active_span`` makes its ``SpanShim`` on first use of
    ``scope.span`` (``with tracer.start_active_span(...):`` bodies often never
    touch it); it is made once, so ``scope.span`` and ``tracer.active_span`` are
    always the same object.
    """

    __slots__ = ("_manager", "_span", "_finish_on_close", "_otel_span", "_token", "_baggage")
    _more_tokens: list | None = None  # baggage published while active, detached first (rare: not a slot)

    def __init__(self, manager, span, finish_on_close: bool, otel_span=None, token=None, baggage=None):
        self._manager = manager  # what opentracing.Scope.__init__ sets, without the call
        self._span = span  # None: made from _otel_span and _baggage when first asked for
        self._finish_on_close = finish_on_close
        self._otel_span = otel_span
        self._token = token  # the context token to detach on close (None: nothing attached)
        self._baggage = baggage

    @property
    def span(self):
        span = self._span
        if span is None:
            with _MAKE_LOCK:  # once, even if two threads ask at the same moment
                span = self._span
                if span is None:
                    span = self._span = SpanShim(self._manager._tracer, self._otel_span, None, self._baggage)
        return span

    def _is_active(self) -> bool:
        context = _current()
        return context.get(SCOPE_KEY) is self and _span_in(context) is self._otel_span

    def __exit__(self, exc_type, exc_val, exc_tb):
        if exc_val is not None:
            opentracing.Span._on_error(self.span, exc_type, exc_val, exc_tb)
        self.close()

    def close(self):
        token = self._token
        if token is None:  # a wrapper from ``active`` or a second close: nothing attached
            return
        context = _current()
        if (
            context.get(SCOPE_KEY) is not self
            or (context.get(_SPAN_KEY) if _FAST else _span_in(context)) is not self._otel_span
        ):
            _log.debug("OpenTracing scope closed out of order; ignored")
            return
        self._token = None
        more = self._more_tokens
        if more:
            self.__dict__.pop("_more_tokens", None)  # (the instance __dict__ opentracing.Scope gives)
            for extra in reversed(more):
                _detach(extra)
        if _FAST:
            try:
                _reset(token)
            except ValueError:  # made in another context (thread/task)
                _detach(token)  # says so, as the API would
        else:
            _detach(token)
        if self._finish_on_close:
            span = self._span
            if span is None:  # never made: nobody can have wrapped or patched its finish
                self._otel_span.end()
            else:
                span.finish()

    def publish_baggage(self, span) -> None:
        """After ``span.set_baggage_item``: if ``span`` is this scope's and the scope is
        the active one here, make its new baggage the current OpenTelemetry baggage
        (detached with the scope)."""
        if self._span is not span or self._token is None or not self._is_active():
            return
        token = _attach(_derive(_current(), baggage=span.context.baggage))
        more = self._more_tokens
        if more is None:
            self.__dict__["_more_tokens"] = [token]
        else:
            more.append(token)


class ScopeManagerShim(opentracing.ScopeManager):
    """Scopes stored in the OpenTelemetry context of ``tracer``."""

    def __init__(self, tracer):
        super().__init__()
        self._tracer = tracer

    def activate(self, span, finish_on_close):
        context = _current()
        if isinstance(span, SpanShim):
            otel_span = span._otel_span
            baggage = span.baggage_items()
            if baggage == _context.baggage_in(context):
                baggage = None  # already current: no need to replace it
        else:
            # A foreign OpenTracing span: no OpenTelemetry span behind it, so
            # mark "no current span" for OpenTelemetry code (the spec's null case).
            otel_span = _INVALID_SPAN
            baggage = None
        scope = ScopeShim(self, span, finish_on_close, otel_span)
        if baggage is None:
            scope._token = _attach(_with_span(context, otel_span, SCOPE_KEY, scope))
        else:
            scope._token = _attach(_derive(context, otel_span, baggage, SCOPE_KEY, scope))
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
