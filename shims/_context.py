"""The OpenTelemetry context, read and written in as few steps as possible.

Both shims touch the context several times per span; through the public
functions each read is three or four calls and each ``set_value`` a dict copy.
When the API runs its default contextvars runtime, this module reads the
context variable directly and builds a derived context with one copy, using the
API's own keys for the current span and the baggage (so OpenTelemetry code
sees exactly what ``set_span_in_context`` / ``baggage.set_baggage`` would give).
Otherwise (a custom ``OTEL_PYTHON_CONTEXT``, or a future API without those
names) it falls back to the public functions.
"""

from __future__ import annotations

import logging
from types import MappingProxyType

from opentelemetry import baggage as baggage_api
from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.context import Context

_log = logging.getLogger(__name__)
_INVALID_SPAN = trace_api.INVALID_SPAN
_EMPTY: MappingProxyType = MappingProxyType({})

try:
    from opentelemetry.baggage import _BAGGAGE_KEY as BAGGAGE_KEY
    from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
    from opentelemetry.trace.propagation import _SPAN_KEY as SPAN_KEY

    _VAR = (
        context_api._RUNTIME_CONTEXT._current_context
        if isinstance(context_api._RUNTIME_CONTEXT, ContextVarsRuntimeContext)
        else None
    )
except (ImportError, AttributeError):
    _VAR = None

FAST = _VAR is not None
if not FAST:
    BAGGAGE_KEY = None  # type: ignore[assignment]  # FAST callers read the context directly; others never do

if _VAR is not None:  # FAST
    current = _VAR.get
    attach = _VAR.set
    _reset = _VAR.reset

    def detach(token) -> None:
        try:
            _reset(token)
        except ValueError:  # made in another context (thread/task): the API only logs it too
            _log.warning("OpenTelemetry context token detached in the wrong context; ignored")

    def span_in(context):
        span = context.get(SPAN_KEY)
        return _INVALID_SPAN if span is None else span

    def baggage_in(context):
        """The context's baggage as a read-only mapping."""
        baggage = context.get(BAGGAGE_KEY)
        return MappingProxyType(baggage) if baggage else _EMPTY

    _dict_set = dict.__setitem__  # on a Context just built and not yet shared: Context blocks []=

    def derive(context, span=None, baggage=None, key=None, value=None):
        """``context`` with the current span, the whole baggage and one more
        value replaced (each only when given): a single copy."""
        derived = Context(context)
        if span is not None:
            _dict_set(derived, SPAN_KEY, span)
        if baggage is not None:
            _dict_set(derived, BAGGAGE_KEY, dict(baggage))
        if key is not None:
            _dict_set(derived, key, value)
        return derived

    def with_span(context, span, key, value):
        """``derive(context, span, None, key, value)`` on the hot path (a dict display is the
        cheapest copy with two more keys)."""
        return Context({**context, SPAN_KEY: span, key: value})
else:
    current = context_api.get_current  # type: ignore[assignment]  # the API's, not the ContextVar's
    attach = context_api.attach
    detach = context_api.detach

    def span_in(context):
        return trace_api.get_current_span(context)

    def baggage_in(context):
        return baggage_api.get_all(context)

    def derive(context, span=None, baggage=None, key=None, value=None):
        if span is not None:
            context = trace_api.set_span_in_context(span, context)
        if baggage is not None:
            context = baggage_api.clear(context)
            for name, item in baggage.items():
                context = baggage_api.set_baggage(name, item, context)
        if key is not None:
            context = context_api.set_value(key, value, context)
        return context

    def with_span(context, span, key, value):
        return derive(context, span, None, key, value)


def current_span():
    return span_in(current())


def current_baggage():
    return baggage_in(current())


def get_value(key):
    return current().get(key)
