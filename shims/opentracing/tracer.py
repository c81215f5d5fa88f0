"""The OpenTracing Tracer shim: ``create_tracer`` and ``TracerShim``."""

from __future__ import annotations

import logging

import opentracing
from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind
from opentracing import Format, ReferenceType

from .. import _context
from . import propagation
from ._scope_key import SCOPE_KEY
from .scope_manager import ScopeManagerShim, ScopeShim
from .span import SPAN_KINDS, SpanContextShim, SpanShim, attribute_value, ns, set_error_status

_log = logging.getLogger(__name__)

SCOPE_NAME = "opentracing-shim"
SCOPE_VERSION = "0.1.0"

_INTERNAL = SpanKind.INTERNAL
_current = _context.current
_attach = _context.attach
_with_span = _context.with_span
_baggage_in = _context.baggage_in
_FAST = _context.FAST
_new = object.__new__
_BAGGAGE_KEY = _context.BAGGAGE_KEY
_EMPTY_CONTEXT = Context()


def create_tracer(
    tracer_provider=None,
    *,
    map_span_kind: bool = False,
    propagators=None,
    text_map_propagator=None,
    http_headers_propagator=None,
    close_provider: bool = False,
) -> TracerShim:
    """An OpenTracing tracer recording through ``tracer_provider`` (the global
    OpenTelemetry provider when None) with scope name ``opentracing-shim``.

    ``map_span_kind``: turn a ``span.kind`` tag (client/server/producer/consumer),
    given at start or set later with ``set_tag`` before the span ends, into the
    OpenTelemetry span kind.
    ``propagators``: names as in ``OTEL_PROPAGATORS`` (a list, or a comma-separated
    string such as ``"tracecontext,baggage,jaeger"``) for ``TEXT_MAP`` and
    ``HTTP_HEADERS``; ``text_map_propagator`` / ``http_headers_propagator``:
    OpenTelemetry propagator objects for one format (they win over ``propagators``).
    With none of them the global text-map propagator
    (``opentelemetry.propagate.get_global_textmap()``) is used at each call.
    ``close_provider``: whether ``tracer.close()`` shuts the TracerProvider down
    (the spec's optional Close); by default it only flushes it, so one legacy
    library closing its tracer does not end tracing for the whole process.
    """
    provider = tracer_provider if tracer_provider is not None else trace_api.get_tracer_provider()
    otel_tracer = provider.get_tracer(SCOPE_NAME, SCOPE_VERSION)
    if propagators is not None:
        from otel_lite._propagators import composite  # only when asked: the shims need no otel_lite SDK

        named = composite(propagators)
        text_map_propagator = text_map_propagator if text_map_propagator is not None else named
        http_headers_propagator = http_headers_propagator if http_headers_propagator is not None else named
    return TracerShim(
        otel_tracer,
        tracer_provider=provider,
        map_span_kind=map_span_kind,
        text_map_propagator=text_map_propagator,
        http_headers_propagator=http_headers_propagator,
        close_provider=close_provider,
    )


class _ClosedTracer:
    """What a closed ``TracerShim`` starts spans with: nothing is recorded, the parent's
    context still propagates (inject keeps working for downstream services)."""

    def start_span(self, name, context=None, *args, **kwargs):
        return trace_api.NonRecordingSpan(trace_api.get_current_span(context).get_span_context())


class TracerShim(opentracing.Tracer):
    def __init__(
        self,
        otel_tracer,
        *,
        tracer_provider=None,
        map_span_kind: bool = False,
        text_map_propagator=None,
        http_headers_propagator=None,
        close_provider: bool = False,
    ):
        super().__init__(scope_manager=ScopeManagerShim(self))
        self._otel_tracer = otel_tracer
        self._provider = tracer_provider
        self._map_span_kind = map_span_kind
        self._close_provider = close_provider
        self._propagators = {Format.TEXT_MAP: text_map_propagator, Format.HTTP_HEADERS: http_headers_propagator}

    def unwrap(self):
        """The OpenTelemetry tracer."""
        return self._otel_tracer

    def start_active_span(
        self,
        operation_name,
        child_of=None,
        references=None,
        tags=None,
        start_time=None,
        ignore_active_span=False,
        finish_on_close=True,
    ):
        if child_of is None and references is None and tags is None and start_time is None and not ignore_active_span:
            # the common case, in one pass: child of the current context, which keeps its baggage
            context = _current()
            otel_span = self._otel_tracer.start_span(operation_name if operation_name is not None else "", context)
            # ScopeShim(manager, None, finish_on_close, otel_span, token, baggage), its slots filled here
            # without the __init__ call (about 0.1 µs per span); the SpanShim is made on first use
            scope = _new(ScopeShim)
            scope._manager = self._scope_manager
            scope._span = None
            scope._finish_on_close = finish_on_close
            scope._otel_span = otel_span
            scope._baggage = context.get(_BAGGAGE_KEY) if _FAST else _baggage_in(context)  # None: no cost
            scope._token = _attach(_with_span(context, otel_span, SCOPE_KEY, scope))
            return scope
        span = self.start_span(operation_name, child_of, references, tags, start_time, ignore_active_span)
        return self._scope_manager.activate(span, finish_on_close)

    def start_span(
        self, operation_name=None, child_of=None, references=None, tags=None, start_time=None, ignore_active_span=False
    ):
        if child_of is None and references is None and tags is None and start_time is None and not ignore_active_span:
            # the common case: child of the current context, with its baggage (the spec)
            context = _current()
            otel_span = self._otel_tracer.start_span(operation_name if operation_name is not None else "", context)
            span = _new(SpanShim)  # SpanShim(self, otel_span, None, baggage) without the __init__ call
            span._ot_tracer = self
            span._otel_span = otel_span
            span._span_context = None
            span._baggage = context.get(_BAGGAGE_KEY) if _FAST else _baggage_in(context)  # None: no cost
            return span
        parent = child_of
        links = None
        baggage = None
        if references:
            if isinstance(references, opentracing.Reference):
                references = [references]
            links = []
            first = first_child_of = None
            for ref in references:
                ref_context = ref.referenced_context
                if ref_context is None:  # the OpenTracing API says: ignore it
                    continue
                if isinstance(ref_context, opentracing.Span):
                    ref_context = ref_context.context
                if not isinstance(ref_context, SpanContextShim):
                    _log.debug("reference to a foreign %s ignored", type(ref_context).__name__)
                    continue
                if first is None:
                    first = ref_context
                if first_child_of is None and ref.type == ReferenceType.CHILD_OF:
                    first_child_of = ref_context
                links.append(Link(ref_context.unwrap(), {"opentracing.ref_type": ref.type}))
                if ref_context.baggage:
                    baggage = {**ref_context.baggage, **baggage} if baggage else dict(ref_context.baggage)
            if parent is None:
                parent = first_child_of if first_child_of is not None else first
            links = links or None  # only ``None`` or foreign references: as if there were none

        # The OpenTelemetry context to start in: the explicit parent, else the
        # current context (active span and baggage), else an empty one.
        if parent is not None:
            if isinstance(parent, SpanShim):
                otel_parent = parent.unwrap()
                parent_context = parent.context
            elif isinstance(parent, SpanContextShim):
                otel_parent = trace_api.NonRecordingSpan(parent.unwrap())
                parent_context = parent
            else:
                otel_parent = parent_context = None
                _log.debug("parent %s is not from this shim; ignored", type(parent).__name__)
            if parent_context is not None:
                context = trace_api.set_span_in_context(otel_parent, _EMPTY_CONTEXT)
                if links is None:
                    baggage = parent_context.baggage
            else:
                context = _EMPTY_CONTEXT if ignore_active_span else None
        elif ignore_active_span:
            context = _EMPTY_CONTEXT
        else:
            context = None
        if baggage is None and links is None and parent is None:
            baggage = _context.current_baggage()  # no references: the current baggage (the spec)

        kind = _INTERNAL
        attributes = None
        error = None
        if tags:
            attributes = {}
            for key, value in tags.items():
                if key == "error":
                    error = value
                elif key == "span.kind" and self._map_span_kind and value in SPAN_KINDS:
                    kind = SPAN_KINDS[value]
                else:
                    attributes[key] = attribute_value(value)
        otel_span = self._otel_tracer.start_span(
            operation_name if operation_name is not None else "",
            context=context,
            kind=kind,
            attributes=attributes,
            links=links,
            start_time=ns(start_time),
        )
        if error is not None:
            set_error_status(otel_span, error)
        return SpanShim(self, otel_span, None, baggage)

    def inject(self, span_context, format, carrier):
        propagation.inject(self, span_context, format, carrier)

    def extract(self, format, carrier):
        return propagation.extract(self, format, carrier)

    def _propagator(self, format):
        return self._propagators.get(format) or propagation.default_propagator()

    def close(self) -> None:
        """Close this tracer (jaeger-client's ``Tracer.close``): flush what the provider
        buffers, and record nothing more through this tracer (its spans still carry the
        parent's context).  The provider is shut down only with
        ``create_tracer(close_provider=True)``: other tracers and OpenTelemetry code keep
        tracing.  Never raises."""
        provider, self._otel_tracer = self._provider, _CLOSED_TRACER
        try:
            if self._close_provider:
                shutdown = getattr(provider, "shutdown", None)
                if shutdown is not None:
                    shutdown()
            else:
                flush = getattr(provider, "force_flush", None)
                if flush is not None:
                    flush(_CLOSE_FLUSH_MILLIS)
        except Exception:
            _log.warning("closing the OpenTracing tracer: the provider failed to flush or shut down", exc_info=True)


_CLOSED_TRACER = _ClosedTracer()
_CLOSE_FLUSH_MILLIS = 5000
