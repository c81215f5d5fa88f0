"""Route OpenCensus tracing into OpenTelemetry: ``install_shim`` / ``uninstall_shim``.

The hook: ``opencensus.trace.tracer.Tracer`` delegates every call
(``span``, ``start_span``, ``end_span``, ``current_span``,
``add_attribute_to_current_span``, ``finish``) to its ``tracer`` attribute
(a ``ContextTracer`` or ``NoopTracer`` chosen by ``get_tracer()``).
``install_shim`` puts a data descriptor named ``tracer`` on the class: reading it
gives a ``ShimContextTracer`` (one per OpenCensus Tracer, created lazily, so
Tracers built before the install are shimmed too), and the assignment done by
``Tracer.__init__`` stores the original tracer in the instance ``__dict__``,
where the class attribute hides it.  ``get_tracer`` is wrapped only to note the
incoming ``trace_options`` before OpenCensus's own sampler rewrites them.
``uninstall_shim`` puts back the class attributes exactly as they were, which
makes every Tracer use its own original tracer again.

Spans are OpenTelemetry spans started in the current OpenTelemetry context,
which OpenTracing-shim and OpenTelemetry code share; OpenCensus's execution
context current span is kept in step for OpenCensus integrations.  The OpenCensus
sampler and exporter are bypassed: the TracerProvider's sampler and processors
decide.  ``Tracer.span_context`` follows the current span (trace id, span id,
sampled flag) so ``propagator.to_headers(tracer.span_context)`` keeps working.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, ClassVar

from opencensus.trace import execution_context
from opencensus.trace import tracer as oc_tracer_module
from opentelemetry import context as context_api
from opentelemetry import trace as trace_api

from .. import _context
from .._kind import set_kind
from . import mapping

_log = logging.getLogger(__name__)

SCOPE_NAME = "opencensus-shim"
SCOPE_VERSION = "0.1.0"

_SPAN_KEY = context_api.create_key("otel_lite.opencensus.span")
_SHIM_ATTR = "_otel_lite_oc_shim"
_SAMPLED_ATTR = "_otel_lite_oc_sampled"
_MISSING = object()

_current = _context.current
_span_in = _context.span_in
_derive = _context.derive
_set_span_in_context = trace_api.set_span_in_context
_set_oc_span = execution_context.set_current_span


class _State:
    lock = threading.Lock()
    otel_tracer: Any = None  # set while installed
    saved: ClassVar[dict] = {}  # class attribute name -> original value (or _MISSING)


def install_shim(tracer_provider=None) -> None:
    """Make every ``opencensus.trace.tracer.Tracer`` record OpenTelemetry spans
    through ``tracer_provider`` (the global provider when None).  Installing
    again switches the provider."""
    provider = tracer_provider if tracer_provider is not None else trace_api.get_tracer_provider()
    Tracer = oc_tracer_module.Tracer
    with _State.lock:
        _State.otel_tracer = provider.get_tracer(SCOPE_NAME, SCOPE_VERSION)
        if _State.saved:
            return
        for name in ("tracer", "get_tracer"):
            _State.saved[name] = Tracer.__dict__.get(name, _MISSING)
        original_get_tracer = Tracer.get_tracer

        def get_tracer(self):
            # Note the sampled flag the caller gave (e.g. from request headers)
            # before OpenCensus's sampler may switch it on.
            options = getattr(self.span_context, "trace_options", None)
            self.__dict__[_SAMPLED_ATTR] = (self.span_context, bool(options is not None and options.get_enabled()))
            return original_get_tracer(self)

        Tracer.get_tracer = get_tracer
        Tracer.tracer = property(_shim_tracer_of, _keep_original_tracer, doc="OpenTelemetry shim tracer")


def uninstall_shim() -> None:
    """Restore ``opencensus.trace.tracer.Tracer`` exactly as it was."""
    Tracer = oc_tracer_module.Tracer
    with _State.lock:
        for name, value in _State.saved.items():
            if value is _MISSING:
                delattr(Tracer, name)
            else:
                setattr(Tracer, name, value)
        _State.saved = {}
        _State.otel_tracer = None


def is_installed() -> bool:
    return bool(_State.saved)


def _keep_original_tracer(oc_tracer, value) -> None:
    oc_tracer.__dict__["tracer"] = value


def _shim_tracer_of(oc_tracer) -> ShimContextTracer:
    shim = oc_tracer.__dict__.get(_SHIM_ATTR)
    otel_tracer = _State.otel_tracer
    if shim is None or shim._otel_tracer is not otel_tracer or shim.span_context is not oc_tracer.span_context:
        # (a new span_context assigned to the Tracer is a new parent)
        span_context = oc_tracer.span_context
        noted = oc_tracer.__dict__.get(_SAMPLED_ATTR)  # (span_context, flag before the OpenCensus sampler)
        sampled = noted[1] if noted is not None and noted[0] is span_context else None
        shim = ShimContextTracer(otel_tracer, span_context, sampled)
        oc_tracer.__dict__[_SHIM_ATTR] = shim
    return shim


class ShimContextTracer:
    """OpenCensus's ``ContextTracer`` interface over an OpenTelemetry tracer."""

    def __init__(self, otel_tracer, span_context, sampled: bool | None = None):
        self._otel_tracer = otel_tracer
        self.span_context = span_context  # the OpenCensus Tracer's, kept in step with the current span
        self._remote_parent = mapping.remote_parent(span_context, sampled)
        self._origin = (
            (span_context.trace_id, span_context.span_id, span_context.trace_options.enabled)
            if span_context is not None
            else None
        )
        self._open: list = []
        self._lock = threading.Lock()

    # -- OpenCensus tracer API ---------------------------------------------------
    def span(self, name="span"):
        return self.start_span(name)

    def start_span(self, name="span"):
        current = _current()
        context = None
        parent_shim = None
        current_otel = _span_in(current)
        if current_otel.get_span_context().is_valid:
            parent_shim = current.get(_SPAN_KEY)
            if parent_shim is not None and parent_shim._otel_span is not current_otel:
                parent_shim = None
        elif self._remote_parent is not None:
            context = _set_span_in_context(trace_api.NonRecordingSpan(self._remote_parent), current)
        otel_span = self._otel_tracer.start_span(name, context=context)
        span = ShimSpan(otel_span, self, parent_shim)
        span._token = _context.attach(_derive(current, otel_span, None, _SPAN_KEY, span))
        _set_oc_span(span)
        with self._lock:
            self._open.append(span)
        self._follow(otel_span.get_span_context())
        return span

    def end_span(self, *args, **kwargs):
        span = self.current_span()
        if span is None or span._borrowed:
            with self._lock:
                span = self._open[-1] if self._open else None
        if span is None:
            _log.warning("No active span, cannot do end_span.")
            return None
        self._end(span)
        return span

    def current_span(self):
        """The current span: the OpenCensus span current in the OpenTelemetry
        context, or a wrapper of an OpenTelemetry span made current elsewhere."""
        current = _current()
        return _shim_span_in(current, _span_in(current))

    def add_attribute_to_current_span(self, attribute_key, attribute_value):
        span = self.current_span()
        if span is None:
            _log.warning("No active span, cannot add attribute %r.", attribute_key)
            return
        span.add_attribute(attribute_key, attribute_value)

    def finish(self):
        """End every span this tracer started and has not ended, innermost first."""
        while True:
            with self._lock:
                if not self._open:
                    return
                span = self._open[-1]
            self._end(span)

    def list_collected_spans(self):
        with self._lock:
            return list(self._open)

    # -- internals ---------------------------------------------------------------
    def _end(self, span) -> None:
        owner = span.context_tracer if span.context_tracer is not None else self  # may be another Tracer's span
        with owner._lock:
            if span in owner._open:
                owner._open.remove(span)
        span.finish()
        token, span._token = span._token, None
        if token is not None:
            current = _current()
            if current.get(_SPAN_KEY) is span and _span_in(current) is span._otel_span:  # type: ignore[attr-defined]
                _context.detach(token)
            else:  # ended out of order: leave the context to whoever owns it now
                _log.debug("OpenCensus span %r ended while not current", span.name)
        # OpenCensus integrations read execution_context: the span now current (the parent), or None
        current = _current()
        otel_span = _span_in(current)
        _set_oc_span(_shim_span_in(current, otel_span))
        now = otel_span.get_span_context()
        if now.is_valid:
            self._follow(now)
        elif self._origin is not None:
            trace_id, span_id, enabled = self._origin
            span_context = self.span_context
            span_context.trace_id, span_context.span_id = trace_id, span_id
            if span_context.trace_options.enabled != enabled:
                span_context.trace_options.set_enabled(enabled)

    def _follow(self, otel_context) -> None:
        """Mirror the current span in the OpenCensus Tracer's span_context."""
        span_context = self.span_context
        if span_context is None:
            return
        span_context.trace_id = format(otel_context.trace_id, "032x")
        span_context.span_id = format(otel_context.span_id, "016x")
        sampled = otel_context.trace_flags.sampled
        if span_context.trace_options.enabled != sampled:
            span_context.trace_options.set_enabled(sampled)


def _shim_span_in(current, otel_span):
    """The OpenCensus view of ``current``'s span: the shim span that made ``otel_span``
    current, a wrapper of a span made current by other code, or None when there is none."""
    span = current.get(_SPAN_KEY)
    if span is not None and span._otel_span is otel_span:
        return span
    if otel_span.get_span_context().is_valid:
        return ShimSpan(otel_span, None, None, borrowed=True)
    return None


class ShimSpan:
    """OpenCensus's span interface over an OpenTelemetry span."""

    def __init__(self, otel_span, context_tracer, parent_span, borrowed: bool = False):
        self._otel_span = otel_span
        self.context_tracer = context_tracer
        self.parent_span = parent_span
        self._borrowed = borrowed  # wraps a span someone else started: never ended from here
        self._token = None
        self._children: list = []
        self.stack_trace = None
        self.same_process_as_parent_span = None

    def unwrap(self):
        """The OpenTelemetry span."""
        return self._otel_span

    @property
    def name(self):
        return getattr(self._otel_span, "name", None)

    @name.setter
    def name(self, value):
        self._otel_span.update_name(value)

    @property
    def span_id(self) -> str:
        return format(self._otel_span.get_span_context().span_id, "016x")

    @property
    def trace_id(self) -> str:
        return format(self._otel_span.get_span_context().trace_id, "032x")

    @property
    def attributes(self):
        return dict(getattr(self._otel_span, "attributes", None) or {})

    @property
    def span_kind(self) -> int:
        return mapping.oc_span_kind(getattr(self._otel_span, "kind", None))

    @span_kind.setter
    def span_kind(self, value) -> None:
        # OpenCensus integrations set the kind just after starting the span (see shims/_kind.py)
        if not set_kind(self._otel_span, mapping.span_kind(value)):
            _log.debug("span kind cannot be changed on %r", self._otel_span)

    @property
    def children(self):
        return self._children

    def span(self, name="child_span"):
        """A child span, not made current (like OpenCensus's ``Span.span``)."""
        context = _set_span_in_context(self._otel_span, context_api.Context())  # explicit parent
        tracer = self.context_tracer._otel_tracer if self.context_tracer is not None else _State.otel_tracer
        child = ShimSpan(tracer.start_span(name, context=context), None, self)
        self._children.append(child)
        return child

    def add_attribute(self, attribute_key, attribute_value):
        self._otel_span.set_attribute(attribute_key, mapping.attribute_value(attribute_value))

    def add_annotation(self, description, **attrs):
        self._otel_span.add_event(str(description), mapping.attributes(attrs))

    def add_message_event(self, message_event):
        name, attrs, timestamp = mapping.message_event(message_event)
        self._otel_span.add_event(name, attrs, timestamp)

    def add_link(self, link):
        from opencensus.trace.link import Link

        if not isinstance(link, Link):
            raise TypeError(f"Type Error: received {type(link).__name__}, but requires Link.")
        try:
            context, attrs = mapping.link(link)
        except ValueError as exc:
            _log.warning("OpenCensus link dropped: %s", exc)
            return
        self._otel_span.add_link(context, attrs)

    def set_status(self, status):
        from opencensus.trace.status import Status

        if not isinstance(status, Status):
            raise TypeError(f"Type Error: received {type(status).__name__}, but requires Status.")
        otel_status, code = mapping.status(status)
        if code == 0 and getattr(status, "description", None):
            mapping.warn_ok_description(status.description)
        self._otel_span.set_attribute(mapping.STATUS_CODE_ATTRIBUTE, code)
        self._otel_span.set_status(otel_status)

    def start(self):
        """Already started when created."""

    def finish(self):
        if not self._borrowed:
            self._otel_span.end()

    def __iter__(self):
        for child in self._children:
            yield from child
        yield self

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        if exc_value is not None:
            from opencensus.trace.status import Status

            self._otel_span.record_exception(exc_value)
            self.set_status(Status.from_exception(exc_value))
        if self.context_tracer is not None and not self._borrowed:
            self.context_tracer._end(self)
        else:
            self.finish()

    def __repr__(self) -> str:
        return f"ShimSpan({self._otel_span!r})"
