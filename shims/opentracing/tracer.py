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
from .scope_manager import ScopeManagerShim
from .span import SpanContextShim, SpanShim, attribute_value, ns, set_error_status

_log = logging.getLogger(__name__)

SCOPE_NAME = "opentracing-shim"
SCOPE_VERSION = "0.1.0"

# Opt-in (``map_span_kind=True``): the spec forbids semantic-convention mapping by default.
_SPAN_KINDS = {
    "client": SpanKind.CLIENT,
    "server": SpanKind.SERVER,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
}
_INTERNAL = SpanKind.INTERNAL
_EMPTY_CONTEXT = Context()


def create_tracer(
    tracer_provider=None, *, map_span_kind: bool = False, text_map_propagator=None, http_headers_propagator=None
) -> TracerShim:
    """An OpenTracing tracer recording through ``tracer_provider`` (the global
    OpenTelemetry provider when None) with scope name ``opentracing-shim``.

    ``map_span_kind``: turn a ``span.kind`` tag given at start
    (client/server/producer/consumer) into the OpenTelemetry span kind.
    ``text_map_propagator`` / ``http_headers_propagator``: OpenTelemetry
    propagators for those formats; when None the global text-map propagator
    (``opentelemetry.propagate.get_global_textmap()``) is used at each call.
    """
    provider = tracer_provider if tracer_provider is not None else trace_api.get_tracer_provider()
    otel_tracer = provider.get_tracer(SCOPE_NAME, SCOPE_VERSION)
    return TracerShim(
        otel_tracer,
        tracer_provider=provider,
        map_span_kind=map_span_kind,
        text_map_propagator=text_map_propagator,
        http_headers_propagator=http_headers_propagator,
    )


class TracerShim(opentracing.Tracer):
    def __init__(
        self,
        otel_tracer,
        *,
        tracer_provider=None,
        map_span_kind: bool = False,
        text_map_propagator=None,
        http_headers_propagator=None,
    ):
        super().__init__(scope_manager=ScopeManagerShim(self))
        self._otel_tracer = otel_tracer
        self._provider = tracer_provider
        self._map_span_kind = map_span_kind
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
        span = self.start_span(operation_name, child_of, references, tags, start_time, ignore_active_span)
        return self._scope_manager.activate(span, finish_on_close)

    def start_span(
        self, operation_name=None, child_of=None, references=None, tags=None, start_time=None, ignore_active_span=False
    ):
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
                elif key == "span.kind" and self._map_span_kind and value in _SPAN_KINDS:
                    kind = _SPAN_KINDS[value]
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
        return SpanShim(self, otel_span, SpanContextShim(otel_span.get_span_context(), baggage))

    def inject(self, span_context, format, carrier):
        propagation.inject(self, span_context, format, carrier)

    def extract(self, format, carrier):
        return propagation.extract(self, format, carrier)

    def _propagator(self, format):
        return self._propagators.get(format) or propagation.default_propagator()

    def close(self) -> None:
        """Shut the TracerProvider down, if it can be (the spec's optional Close)."""
        shutdown = getattr(self._provider, "shutdown", None)
        if shutdown is not None:
            shutdown()
