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
_attach = _context.attach
_detach = _context.detach
_with_span = _context.with_span
_set_span_in_context = trace_api.set_span_in_context
_INVALID_SPAN = trace_api.INVALID_SPAN


def _oc_span_setter():
    """``execution_context.set_current_span``, or straight to its context variable when OpenCensus runs
    its contextvars runtime (the same effect, without two Python calls per set)."""
    try:
        from opencensus.common.runtime_context import RuntimeContext, _AsyncRuntimeContext

        if isinstance(RuntimeContext, _AsyncRuntimeContext):
            return RuntimeContext._slots["current_span"].contextvar.set
    except (ImportError, AttributeError, KeyError):
        pass
    return execution_context.set_current_span


_set_oc_span = _oc_span_setter()


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
        for name in ("tracer", "get_tracer", "span_context"):
            _State.saved[name] = Tracer.__dict__.get(name, _MISSING)
        original_get_tracer = Tracer.get_tracer

        def get_tracer(self):
            # Note the sampled flag the caller gave (e.g. from request headers)
            # before OpenCensus's sampler may switch it on.
            span_context = _own_span_context(self)
            options = getattr(span_context, "trace_options", None)
            self.__dict__[_SAMPLED_ATTR] = (span_context, bool(options is not None and options.get_enabled()))
            return original_get_tracer(self)

        Tracer.get_tracer = get_tracer
        Tracer.tracer = property(_shim_tracer_of, _keep_original_tracer, doc="OpenTelemetry shim tracer")
        Tracer.span_context = property(_synced_span_context, _keep_span_context, doc="follows the current span")


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


def _keep_span_context(oc_tracer, value) -> None:
    oc_tracer.__dict__["span_context"] = value


def _own_span_context(oc_tracer):
    """The Tracer's span_context as stored, without syncing it."""
    return oc_tracer.__dict__.get("span_context")


def _synced_span_context(oc_tracer):
    """``tracer.span_context``, brought in step with the current span when read (rather than
    on every span start and end): ``propagator.to_headers(tracer.span_context)`` keeps working."""
    span_context = oc_tracer.__dict__.get("span_context")
    shim = oc_tracer.__dict__.get(_SHIM_ATTR)
    if shim is not None and shim._span_context is span_context:
        shim._sync()
    return span_context


def _shim_tracer_of(oc_tracer) -> ShimContextTracer:
    shim = oc_tracer.__dict__.get(_SHIM_ATTR)
    otel_tracer = _State.otel_tracer
    span_context = oc_tracer.__dict__.get("span_context")
    if shim is None or shim._otel_tracer is not otel_tracer or shim._span_context is not span_context:
        # (a new span_context assigned to the Tracer is a new parent)
        noted = oc_tracer.__dict__.get(_SAMPLED_ATTR)  # (span_context, flag before the OpenCensus sampler)
        sampled = noted[1] if noted is not None and noted[0] is span_context else None
        shim = ShimContextTracer(otel_tracer, span_context, sampled)
        oc_tracer.__dict__[_SHIM_ATTR] = shim
    return shim


class ShimContextTracer:
    """OpenCensus's ``ContextTracer`` interface over an OpenTelemetry tracer."""

    def __init__(self, otel_tracer, span_context, sampled: bool | None = None):
        self._otel_tracer = otel_tracer
        self._span_context = span_context  # the OpenCensus Tracer's, synced with the current span when read
        self._remote_parent = mapping.remote_parent(span_context, sampled)
        self._origin = (
            (span_context.trace_id, span_context.span_id, span_context.trace_options.enabled)
            if span_context is not None
            else None
        )
        # spans started and not yet ended, for finish(); list append/remove are atomic under the GIL
        self._open: list = []

    @property
    def span_context(self):
        self._sync()
        return self._span_context

    # -- OpenCensus tracer API ---------------------------------------------------
    def span(self, name="span"):
        return self.start_span(name)

    def start_span(self, name="span"):
        current = _current()
        context = current
        parent_shim = outer = None
        current_otel = _span_in(current)
        if current_otel is not _INVALID_SPAN and current_otel.get_span_context().is_valid:
            parent_shim = current.get(_SPAN_KEY)
            if parent_shim is None or parent_shim._otel_span is not current_otel:
                parent_shim = None
                outer = current_otel  # an OpenTelemetry span made current by other code
        elif self._remote_parent is not None:
            context = _set_span_in_context(trace_api.NonRecordingSpan(self._remote_parent), current)
        otel_span = self._otel_tracer.start_span(name, context)
        span = ShimSpan(otel_span, self, parent_shim)
        if outer is not None:
            span._outer = outer
        span._token = _attach(_with_span(current, otel_span, _SPAN_KEY, span))
        _set_oc_span(span)
        self._open.append(span)
        return span

    def end_span(self, *args, **kwargs):
        span = self.current_span()
        if span is None or span._borrowed:
            try:
                span = self._open[-1]
            except IndexError:
                span = None
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
            try:
                span = self._open[-1]
            except IndexError:
                return
            self._end(span)

    def list_collected_spans(self):
        return list(self._open)

    # -- internals ---------------------------------------------------------------
    def _end(self, span) -> None:
        owner = span.context_tracer if span.context_tracer is not None else self  # may be another Tracer's span
        try:
            owner._open.remove(span)
        except ValueError:  # ended already
            pass
        span.finish()
        token, span._token = span._token, None
        current = _current()
        otel_span, parent, outer = span._otel_span, span.parent_span, span._outer
        if token is not None and _span_in(current) is otel_span and current.get(_SPAN_KEY) is span:
            _detach(token)
            # back in the context the span started in: OpenCensus's current span is its parent
            if parent is None and outer is not None:
                parent = ShimSpan(outer, None, None, borrowed=True)
        else:
            if token is not None:  # ended out of order: leave the context to whoever owns it now
                _log.debug("OpenCensus span %r ended while not current", span.name)
            parent = _shim_span_in(current, _span_in(current))
        # OpenCensus integrations read execution_context: the span now current (the parent), or None
        _set_oc_span(parent)

    def _sync(self) -> None:
        """Mirror the current span (else the Tracer's own context) in the OpenCensus span_context."""
        span_context = self._span_context
        if span_context is None:
            return
        now = _context.current_span().get_span_context()
        if now.is_valid:
            trace_id, span_id, enabled = (
                format(now.trace_id, "032x"),
                format(now.span_id, "016x"),
                now.trace_flags.sampled,
            )
        elif self._origin is not None:
            trace_id, span_id, enabled = self._origin
        else:
            return
        span_context.trace_id, span_context.span_id = trace_id, span_id
        if span_context.trace_options.enabled != enabled:
            span_context.trace_options.set_enabled(enabled)


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

    # defaults as class attributes: set per instance only when they differ (a cheaper start)
    _borrowed = False  # wraps a span someone else started: never ended from here
    _token = None  # the OpenTelemetry context token of the span's activation
    _outer = None  # the OpenTelemetry (non-OpenCensus) span current at start, if any
    stack_trace = None
    same_process_as_parent_span = None

    def __init__(self, otel_span, context_tracer, parent_span, borrowed: bool = False):
        self._otel_span = otel_span
        self.context_tracer = context_tracer
        self.parent_span = parent_span
        if borrowed:
            self._borrowed = True

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
    def children(self) -> list:
        children = self.__dict__.get("_children")
        if children is None:
            children = self.__dict__["_children"] = []
        return children

    def span(self, name="child_span"):
        """A child span, not made current (like OpenCensus's ``Span.span``)."""
        context = _set_span_in_context(self._otel_span, context_api.Context())  # explicit parent
        tracer = self.context_tracer._otel_tracer if self.context_tracer is not None else _State.otel_tracer
        child = ShimSpan(tracer.start_span(name, context=context), None, self)
        self.children.append(child)
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
        for child in self.__dict__.get("_children", ()):
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
