"""Every private part of opentelemetry-api that otel_lite and the shims rely on, in one place.

opentelemetry-api may move or change any of these in a minor release; ``pyproject.toml`` therefore bounds
``opentelemetry-api`` below the next minor version, and CI raises the bound deliberately, after this file
passes on the new release.  When one of these fails, the release moved a name: fix the module listed with
it (most have a slower public fallback only in some places, so a silent change would cost speed or
correctness, not just fail here).

The last test checks that the list is complete: a new private import in otel_lite/ or shims/ must be added
here.
"""

from __future__ import annotations

import contextvars
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_span_key():
    # otel_lite/provider.py (the current span, read and set without the API's three calls),
    # shims/_context.py (the same in the shims)
    from opentelemetry import trace
    from opentelemetry.context import Context
    from opentelemetry.trace.propagation import _SPAN_KEY

    span = trace.NonRecordingSpan(trace.INVALID_SPAN_CONTEXT)
    assert trace.set_span_in_context(span, Context()).get(_SPAN_KEY) is span


def test_baggage_key():
    # shims/_context.py (the baggage dict, read and written in one context copy)
    from opentelemetry import baggage
    from opentelemetry.baggage import _BAGGAGE_KEY

    assert baggage.set_baggage("k", "v").get(_BAGGAGE_KEY) == {"k": "v"}


def test_suppress_instrumentation_key():
    # otel_lite/processors.py (exports run with instrumentation suppressed, as opentelemetry-sdk's do)
    from opentelemetry import context
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY

    assert context._SUPPRESS_INSTRUMENTATION_KEY is _SUPPRESS_INSTRUMENTATION_KEY
    token = context.attach(context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
    try:
        try:  # what instrumentations ask (opentelemetry-instrumentation), when it is installed
            from opentelemetry.instrumentation.utils import is_instrumentation_enabled
        except ImportError:
            assert context.get_value(_SUPPRESS_INSTRUMENTATION_KEY) is True
        else:
            assert not is_instrumentation_enabled()
    finally:
        context.detach(token)


def test_clean_attribute_value():
    # otel_lite/span.py (the slow path of attribute validation: the API's own rules)
    from opentelemetry.attributes import _clean_attribute_value

    assert _clean_attribute_value("abcdef", 3) == "abc"
    assert _clean_attribute_value([1, 2], None) == (1, 2)  # sequences become tuples


def test_runtime_context_is_a_context_variable():
    # otel_lite/provider.py, shims/_context.py: with the default runtime the context variable is read and
    # set directly (both fall back to the public functions for another OTEL_PYTHON_CONTEXT)
    from opentelemetry import context
    from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext

    assert isinstance(context._RUNTIME_CONTEXT, ContextVarsRuntimeContext)
    var = context._RUNTIME_CONTEXT._current_context
    assert isinstance(var, contextvars.ContextVar)
    token = context.attach(context.set_value("otel_lite.test", 1))
    try:
        assert var.get() is context.get_current() and var.get()["otel_lite.test"] == 1
    finally:
        context.detach(token)


def test_context_is_a_dict():
    # otel_lite/provider.py: a fresh Context copy gets the current span with dict.__setitem__
    # (Context.__setitem__ raises); shims/_context.py builds a Context from a dict
    from opentelemetry.context import Context

    ctx = Context({"a": 1})
    assert isinstance(ctx, dict)
    dict.__setitem__(ctx, "b", 2)
    assert ctx.get("b") == 2 and dict(ctx) == {"a": 1, "b": 2}


def test_span_context_tuple_layout():
    # otel_lite/provider.py builds SpanContext with tuple.__new__ (no re-validation of ids it just made) and
    # reads the parent by index, as do otel_lite/sampling.py, processors.py and export/otlp_encode.py
    from opentelemetry.trace import SpanContext, TraceFlags, TraceState

    state = TraceState([("k", "v")])
    ctx = SpanContext(1, 2, True, TraceFlags(1), state)
    assert isinstance(ctx, tuple)
    # trace_id, span_id, is_remote, flags, state, is_valid
    assert tuple(ctx) == (1, 2, True, TraceFlags(1), state, True)
    built = tuple.__new__(SpanContext, (3, 4, False, TraceFlags(1), state, True))
    assert (built.trace_id, built.span_id, built.is_remote, built.trace_flags, built.trace_state, built.is_valid) == (
        3,
        4,
        False,
        TraceFlags(1),
        state,
        True,
    )
    assert not SpanContext(0, 0, False)[5]  # an invalid context says so in the same place


# -- the list is complete -------------------------------------------------------------------------------

# private names of opentelemetry-api found in the sources, each covered by a test above
COVERED = {
    "_SPAN_KEY",
    "_BAGGAGE_KEY",
    "_SUPPRESS_INSTRUMENTATION_KEY",
    "_clean_attribute_value",
    "_RUNTIME_CONTEXT",
    "_current_context",
}
_IMPORT = re.compile(r"from opentelemetry[\w.]* import \(?([^)\n]+)")
_ACCESS = re.compile(
    r"\b(?:context_api|trace_api|baggage_api|trace|context|baggage|_RUNTIME|_RUNTIME_CONTEXT)"
    r"\.(_[A-Za-z]\w*)"
)


@pytest.mark.parametrize("folder", ["otel_lite", "shims"])
def test_every_private_api_name_in_the_sources_is_covered(folder):
    found = {}
    for path in (ROOT / folder).rglob("*.py"):
        text = path.read_text()
        for match in _IMPORT.finditer(text):
            for name in match.group(1).split(","):
                name = name.strip().split(" as ")[0].strip()
                if name.startswith("_"):
                    found.setdefault(name, path.relative_to(ROOT))
        for match in _ACCESS.finditer(text):
            found.setdefault(match.group(1), path.relative_to(ROOT))
    missing = {name: str(where) for name, where in found.items() if name not in COVERED}
    assert not missing, f"private opentelemetry-api names without a test here: {missing}"
