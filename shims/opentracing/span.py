"""OpenTracing Span and SpanContext over an OpenTelemetry span.

A ``SpanContextShim`` is immutable: the OpenTelemetry ``SpanContext`` plus a
read-only baggage mapping.  ``set_baggage_item`` swaps in a new one (under a
lock, as the spec asks), and, when the span is the active one in the current
context, also makes the new baggage current for OpenTelemetry code.
"""

from __future__ import annotations

import threading
import traceback as traceback_module
from types import MappingProxyType

import opentracing
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentracing import logs as ot_logs

from .. import _context
from .._kind import set_kind
from ._scope_key import SCOPE_KEY

_EMPTY: MappingProxyType = MappingProxyType({})
_get_value = _context.get_value
_OK = Status(StatusCode.OK)
_ERROR = Status(StatusCode.ERROR)
# One lock for every baggage update: updates are rare, and a lock per span
# would cost an allocation on the hot path.
_BAGGAGE_LOCK = threading.Lock()
_PRIMITIVES = (str, bool, int, float)
# ``span.kind`` tag values -> SpanKind, with ``map_span_kind=True`` only: the spec forbids
# semantic-convention mapping by default
SPAN_KINDS = {
    "client": SpanKind.CLIENT,
    "server": SpanKind.SERVER,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
}


def attribute_value(value):
    """An OpenTelemetry attribute value: primitives and homogeneous sequences
    of them pass through, anything else becomes its ``str()`` (the spec)."""
    if isinstance(value, _PRIMITIVES):
        return value
    if (
        isinstance(value, (list, tuple))
        and value
        and all(isinstance(v, _PRIMITIVES) for v in value)
        and len({type(v) for v in value}) == 1
    ):
        return tuple(value)
    if isinstance(value, type):
        return value.__qualname__
    return str(value)


def ns(seconds: float | None) -> int | None:
    """OpenTracing float seconds -> OpenTelemetry int nanoseconds.  Whole and
    fractional seconds are converted apart: ``t * 1e9`` would round away the
    sub-microsecond digits a double still holds."""
    if seconds is None:
        return None
    whole = int(seconds)
    return whole * 1_000_000_000 + round((seconds - whole) * 1e9)


class SpanContextShim(opentracing.SpanContext):
    """Immutable: an OpenTelemetry ``SpanContext`` and its baggage."""

    __slots__ = ("_otel_context", "_baggage")

    def __init__(self, otel_context, baggage=None):
        self._otel_context = otel_context
        self._baggage = MappingProxyType(dict(baggage)) if baggage else _EMPTY

    @property
    def baggage(self):
        """Read-only mapping; compares equal to a plain dict."""
        return self._baggage

    def unwrap(self):
        """The OpenTelemetry ``SpanContext``."""
        return self._otel_context

    @property
    def trace_id(self) -> int:
        return self._otel_context.trace_id

    @property
    def span_id(self) -> int:
        return self._otel_context.span_id

    def with_baggage_item(self, key: str, value) -> SpanContextShim:
        baggage = dict(self._baggage)
        if value is None:
            baggage.pop(key, None)
        else:
            baggage[key] = str(value)
        return SpanContextShim(self._otel_context, baggage)

    def __repr__(self) -> str:
        c = self._otel_context
        return f"SpanContextShim(trace_id={c.trace_id:032x}, span_id={c.span_id:016x}, baggage={dict(self._baggage)})"


class SpanShim(opentracing.Span):
    """An OpenTracing span recording into an OpenTelemetry span.

    Every setter returns the span (call chaining).  The ``SpanContextShim`` is
    built on first use of ``context`` (most spans are started and finished and
    never asked for it): until then the span holds the baggage it started with
    (a read-only mapping), or None.  The OpenTracing harness and users patch
    ``finish`` on instances: that works, slots or not.
    """

    # slots for speed; instances still have a __dict__ (opentracing.Span has none of its own slots), so
    # ``span.finish = ...`` on an instance works
    __slots__ = ("_ot_tracer", "_otel_span", "_span_context", "_baggage")

    def __init__(self, tracer, otel_span, context: SpanContextShim | None = None, baggage=None):
        self._ot_tracer = tracer
        self._otel_span = otel_span
        self._span_context = context
        self._baggage = baggage  # read only while _context is None

    @property
    def tracer(self):
        return self._ot_tracer

    @property
    def context(self) -> SpanContextShim:
        context = self._span_context
        if context is None:
            context = self._span_context = SpanContextShim(self._otel_span.get_span_context(), self._baggage)
        return context

    def baggage_items(self):
        """The span's baggage (a mapping, possibly empty) without building its context."""
        span_context = self._span_context
        if span_context is not None:
            return span_context._baggage
        return self._baggage or _EMPTY

    def unwrap(self):
        """The OpenTelemetry span."""
        return self._otel_span

    def set_operation_name(self, operation_name):
        self._otel_span.update_name(operation_name)
        return self

    def finish(self, finish_time=None):
        if finish_time is None:
            self._otel_span.end()
        else:
            self._otel_span.end(end_time=ns(finish_time))

    def set_tag(self, key, value):
        if key == "error":
            set_error_status(self._otel_span, value)
        elif key == "span.kind" and self._ot_tracer._map_span_kind and value in SPAN_KINDS:
            # Flask-OpenTracing and others tag the kind after start: applied while nothing has ended
            if not set_kind(self._otel_span, SPAN_KINDS[value]):
                self._otel_span.set_attribute(key, value)  # cannot change it here: keep the tag
        else:
            self._otel_span.set_attribute(key, attribute_value(value))
        return self

    def log_kv(self, key_values, timestamp=None):
        log_to_event(self._otel_span, key_values, ns(timestamp))
        return self

    def set_baggage_item(self, key, value):
        with _BAGGAGE_LOCK:
            self._span_context = self.context.with_baggage_item(key, value)
        scope = _get_value(SCOPE_KEY)  # the active ScopeShim, if any
        if scope is not None:
            scope.publish_baggage(self)
        return self

    def get_baggage_item(self, key):
        return self.baggage_items().get(key)

    def __repr__(self) -> str:
        return f"SpanShim({self._otel_span!r})"


def set_error_status(otel_span, value) -> None:
    """The OpenTracing ``error`` tag: true -> ERROR, false -> OK (the spec)."""
    if isinstance(value, str):
        value = value.strip().lower() == "true"
    otel_span.set_status(_ERROR if value else _OK)


# OpenTracing log fields -> OpenTelemetry exception event attributes (the spec).
_EXCEPTION_FIELDS = {
    ot_logs.ERROR_KIND: "exception.type",
    ot_logs.MESSAGE: "exception.message",
    ot_logs.STACK: "exception.stacktrace",
}


def _stack_text(value) -> str:
    if hasattr(value, "tb_frame"):
        return "".join(traceback_module.format_tb(value))
    return attribute_value(value)


def log_to_event(otel_span, key_values, timestamp) -> None:
    """``log_kv`` -> an event named by the ``event`` field (else ``log``);
    ``event=error`` -> ``record_exception`` when ``error.object`` is an
    exception, else an ``exception`` event with the fields renamed."""
    key_values = key_values or {}
    event = key_values.get(ot_logs.EVENT)
    if event == "error":
        error = key_values.get(ot_logs.ERROR_OBJECT)
        if isinstance(error, BaseException):
            # exception.type/message/stacktrace come from the exception itself.
            extra = {
                k: attribute_value(v)
                for k, v in key_values.items()
                if k not in (ot_logs.EVENT, ot_logs.ERROR_OBJECT) and k not in _EXCEPTION_FIELDS
            }
            otel_span.record_exception(error, attributes=extra, timestamp=timestamp)
            return
        attributes = {}
        for k, v in key_values.items():
            if k == ot_logs.EVENT:
                continue
            if k == ot_logs.STACK:
                attributes["exception.stacktrace"] = _stack_text(v)
            else:
                attributes[_EXCEPTION_FIELDS.get(k, k)] = attribute_value(v)
        otel_span.add_event("exception", attributes, timestamp)
        return
    name = event if isinstance(event, str) else ("log" if event is None else str(event))
    attributes = {k: attribute_value(v) for k, v in key_values.items()}
    otel_span.add_event(name, attributes, timestamp)
