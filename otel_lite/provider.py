"""TracerProvider and Tracer: where spans start.

``Tracer.start_span`` is the hot path.  It reads the parent straight from the
context variable, asks built-in samplers for a bare decision (no result
object), builds the ``SpanContext`` tuple without re-validating ids it just
generated, and hands the rest to ``span.new_span``, the one place a span's
slots are filled.  Anything unexpected is caught and logged: tracing never
raises into application code.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import itertools
import logging
import os
import random
import threading
import weakref
from typing import Literal

from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.context.context import Context
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.propagation import _SPAN_KEY
from opentelemetry.trace.span import DEFAULT_TRACE_STATE
from opentelemetry.trace.status import Status, StatusCode

from ._fork import after_fork_in_child
from .config import env_bool
from .ids import IdGenerator, RandomIdGenerator
from .limits import SpanLimits
from .processors import SpanProcessorChain, count_value
from .resource import after_fork, as_resource
from .sampling import Sampler, _as_decision, constant_decisions, sampler_from_env
from .span import InstrumentationScope, _as_name, new_span

_log = logging.getLogger("otel_lite")

_new_tuple = tuple.__new__
_FLAGS = tuple(TraceFlags(i) for i in range(4))  # bit 0 sampled, bit 1 random trace id (W3C level 2)
_INTERNAL = SpanKind.INTERNAL
_NonRecordingSpan = trace_api.NonRecordingSpan

# The context is a contextvar holding an immutable dict; reading and setting it
# directly skips three layers of API calls on every span.
_RUNTIME = context_api._RUNTIME_CONTEXT
if isinstance(_RUNTIME, ContextVarsRuntimeContext):
    _CONTEXT_VAR = _RUNTIME._current_context
    _get_current = _CONTEXT_VAR.get
    _attach = _CONTEXT_VAR.set
    _reset = _CONTEXT_VAR.reset
else:  # a custom OTEL_PYTHON_CONTEXT: use the API
    _get_current = context_api.get_current  # type: ignore[assignment]  # same call, () -> Context
    _attach = context_api.attach
    _reset = context_api.detach
_dict_set = dict.__setitem__
_getrandbits = random.getrandbits


class Tracer(trace_api.Tracer):
    """Starts spans for one instrumentation scope.  Obtain from ``TracerProvider.get_tracer``."""

    def __init__(self, provider: TracerProvider, scope: InstrumentationScope):
        self._provider = provider
        self._scope = scope
        self._instrumentation_scope = scope  # opentelemetry-sdk's name for it, which some code reads
        self._resource = provider._resource
        self._limits = provider._limits
        self._processor = provider._processor
        self._id_generator = provider._id_generator
        self._count_started = provider._started.__next__
        self._count_ended = provider._ended.__next__
        try:
            self._random_ids = bool(provider._id_generator.is_trace_id_random())
        except Exception:  # a custom id generator's bug must not reach get_tracer's caller
            _log.exception("id generator failed in is_trace_id_random")
            self._random_ids = False
        sampler = provider._sampler
        self._sampler = sampler
        # built-in samplers answer with a bare decision; custom ones go through should_sample
        self._decide = (
            sampler._decide
            if (isinstance(sampler, Sampler) and type(sampler).should_sample is Sampler.should_sample)
            else None
        )
        # constant decisions (e.g. the default ParentBased(ALWAYS_ON)) need no call at all
        self._root_decision, self._child_decisions = constant_decisions(sampler) if self._decide else (None, None)
        # the default generator's ids are drawn inline: one getrandbits call per span
        self._fast_ids = type(provider._id_generator) is RandomIdGenerator
        self._new_trace_id = provider._id_generator.generate_trace_id
        self._new_span_id = provider._id_generator.generate_span_id

    @property
    def instrumentation_scope(self) -> InstrumentationScope:
        return self._scope

    @property
    def resource(self):
        return self._resource

    def start_span(
        self,
        name,
        context=None,
        kind=_INTERNAL,
        attributes=None,
        links=None,
        start_time=None,
        record_exception=True,
        set_status_on_exception=True,
    ):
        try:
            self._count_started()
            parent_span = (_get_current() if context is None else context).get(_SPAN_KEY)
            parent = None
            if parent_span is not None:
                parent = parent_span.get_span_context()
                if parent is not None and not parent.is_valid:
                    parent = None
            if parent is None:
                random_bit = 2 if self._random_ids else 0
                if self._fast_ids:
                    bits = _getrandbits(192)
                    trace_id = bits >> 64
                    span_id = bits & 0xFFFFFFFFFFFFFFFF
                    if not trace_id or not span_id:
                        trace_id, span_id = self._new_trace_id(), self._new_span_id()
                else:
                    trace_id, span_id = self._new_trace_id(), self._new_span_id()
                    _check_ids(trace_id, span_id)
            else:
                trace_id = parent[0]
                random_bit = parent[3] & 2
                span_id = (_getrandbits(64) if self._fast_ids else 0) or self._new_span_id()
                if not self._fast_ids:
                    _check_ids(trace_id, span_id)
            decide = self._decide
            if decide is not None:
                if parent is None:
                    decision = self._root_decision
                    if decision is None:
                        decision = decide(None, trace_id)
                    trace_state = DEFAULT_TRACE_STATE
                else:
                    table = self._child_decisions
                    decision = (
                        table[(parent[2] << 1) | (parent[3] & 1)] if table is not None else decide(parent, trace_id)
                    )
                    trace_state = parent[4]
            else:
                result = self._sampler.should_sample(context, trace_id, name, kind, attributes, links)
                decision = _as_decision(result.decision)
                attributes = result.attributes
                trace_state = result.trace_state if result.trace_state is not None else DEFAULT_TRACE_STATE
            span_context = _new_tuple(
                SpanContext, (trace_id, span_id, False, _FLAGS[random_bit | (decision == 2)], trace_state, True)
            )
            if not decision:
                return _NonRecordingSpan(span_context)
            span = new_span(
                self,
                name,
                span_context,
                parent,
                kind,
                start_time,
                attributes,
                links,
                record_exception,
                set_status_on_exception,
            )
            starters = self._processor._starters
            if starters:
                self._processor.on_start(span, context)
            return span
        except Exception:  # never raise into the application
            _log.exception("failed to start span %r", name)
            return trace_api.INVALID_SPAN

    def start_as_current_span(
        self,
        name,
        context=None,
        kind=_INTERNAL,
        attributes=None,
        links=None,
        start_time=None,
        record_exception=True,
        set_status_on_exception=True,
        end_on_exit=True,
    ):
        return _CurrentSpan(
            self,
            (name, context, kind, attributes, links, start_time, record_exception, set_status_on_exception),
            end_on_exit,
        )


def _check_ids(trace_id, span_id) -> None:
    """A custom id generator's ids must be ints in range, or the span context breaks propagators
    (formatting them raises in the application) and exporters."""
    if (
        type(trace_id) is not int
        or not 0 < trace_id < 1 << 128
        or type(span_id) is not int
        or not 0 < span_id < 1 << 64
    ):
        raise ValueError(
            f"the id generator returned invalid ids (of types {type(trace_id).__name__}, "
            f"{type(span_id).__name__}, or out of range)"
        )


class _CurrentSpan:
    """What ``start_as_current_span`` returns: a context manager (the span
    starts on ``__enter__``) that is also a decorator for sync and async
    functions, like opentelemetry-sdk's.  A class, not a generator, because a
    generator-based context manager costs about 1 µs more per span."""

    __slots__ = ("_tracer", "_args", "_end_on_exit", "_span", "_token")

    def __init__(self, tracer: Tracer, args: tuple, end_on_exit: bool):
        self._tracer = tracer
        self._args = args
        self._end_on_exit = end_on_exit

    def __enter__(self):
        span = self._span = self._tracer.start_span(*self._args)
        try:
            ctx = Context(_get_current())
            _dict_set(ctx, _SPAN_KEY, span)  # Context forbids item assignment; this is a fresh copy
            self._token = _attach(ctx)
        except Exception:
            _log.exception("failed to make span current")
            self._token = None
        return span

    def __exit__(self, exc_type, exc_val, exc_tb) -> Literal[False]:
        try:
            _reset(self._token)
        except Exception:  # same tolerance as opentelemetry.context.detach
            if self._token is not None:
                _log.exception("Failed to detach context")
        span = self._span
        if exc_val is not None and isinstance(exc_val, Exception) and span.is_recording():
            args = self._args
            if args[6]:
                span.record_exception(exc_val)
            if args[7]:
                span.set_status(Status(StatusCode.ERROR, f"{type(exc_val).__name__}: {exc_val}"))
        if self._end_on_exit:
            span.end()
        return False

    def __call__(self, func):
        tracer, args, end_on_exit = self._tracer, self._args, self._end_on_exit
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*a, **kw):
                with _CurrentSpan(tracer, args, end_on_exit):
                    return await func(*a, **kw)

            return async_wrapper

        @functools.wraps(func)
        def wrapper(*a, **kw):
            with _CurrentSpan(tracer, args, end_on_exit):
                return func(*a, **kw)

        return wrapper


class TracerProvider(trace_api.TracerProvider):
    """The SDK entry point, with opentelemetry-sdk's constructor arguments.

    With no arguments it is a working provider configured from the
    environment (sampler, span limits, resource); processors are added with
    ``add_span_processor`` (``otel_lite.configure`` does that for you).
    """

    def __init__(
        self,
        sampler=None,
        resource=None,
        shutdown_on_exit: bool = True,
        active_span_processor=None,
        id_generator: IdGenerator | None = None,
        span_limits: SpanLimits | None = None,
    ):
        self._sampler = sampler if sampler is not None else sampler_from_env()
        self._resource = as_resource(resource)
        self._id_generator = id_generator if id_generator is not None else RandomIdGenerator()
        self._limits = span_limits if span_limits is not None else SpanLimits()
        self._processor = active_span_processor if active_span_processor is not None else SpanProcessorChain()
        self._disabled = bool(env_bool("OTEL_SDK_DISABLED", False))
        self._tracers: dict = {}
        self._started = itertools.count()
        self._ended = itertools.count()
        self._lock = threading.Lock()
        self._shutdown_done = False
        self._atexit = None
        self._pid = os.getpid()
        fork_ref = weakref.WeakMethod(self._after_fork)  # pre-fork servers: a provider made in the master
        after_fork_in_child(lambda: (fork_ref() or (lambda: None))())
        if shutdown_on_exit:
            ref = weakref.ref(self)

            def _at_exit():
                provider = ref()
                if provider is not None:
                    provider.shutdown()

            self._atexit = _at_exit
            atexit.register(_at_exit)

    def _after_fork(self) -> None:
        """In a forked child (a pre-fork server's worker): a fresh lock (the parent's may have been held
        by another thread at fork time), and the resource with this process's pid and instance id."""
        try:
            if self._pid == os.getpid():  # already done in this process (Python's and uWSGI's hooks)
                return
            self._lock = threading.Lock()
            parent_pid, self._pid = self._pid, os.getpid()
            resource = after_fork(self._resource, parent_pid)
            if resource is not self._resource:
                self._resource = resource
                for tracer in list(self._tracers.values()):
                    tracer._resource = resource
        except Exception:  # never raise in the child's fork
            _log.exception("otel_lite: updating the provider after fork failed")

    @property
    def resource(self):
        return self._resource

    @property
    def sampler(self):
        return self._sampler

    @property
    def id_generator(self):
        return self._id_generator

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes=None,
    ) -> trace_api.Tracer:
        if self._disabled:
            return trace_api.NoOpTracer()
        # names that are not str (None is fine for the version and the schema URL) become str
        if type(instrumenting_module_name) is not str and instrumenting_module_name is not None:
            instrumenting_module_name = _as_name(instrumenting_module_name)
        if type(instrumenting_library_version) is not str and instrumenting_library_version is not None:
            instrumenting_library_version = _as_name(instrumenting_library_version)
        if type(schema_url) is not str and schema_url is not None:
            schema_url = _as_name(schema_url)
        if not instrumenting_module_name:
            _log.error("get_tracer called with missing module name.")
            instrumenting_module_name = ""
        try:
            key: tuple = (
                instrumenting_module_name,
                instrumenting_library_version,
                schema_url,
                tuple(sorted(attributes.items())) if attributes else None,
            )
            hash(key)
        except Exception:  # list-valued (or otherwise unhashable) scope attributes, or not a mapping
            try:
                key = (instrumenting_module_name, instrumenting_library_version, schema_url, repr(attributes))
            except Exception:  # scope attributes nothing can be done with: left out
                _log.exception("get_tracer: invalid scope attributes ignored")
                attributes = None
                key = (instrumenting_module_name, instrumenting_library_version, schema_url, None)
        tracer = self._tracers.get(key)
        if tracer is None:
            with self._lock:
                tracer = self._tracers.get(key)
                if tracer is None:
                    try:
                        scope = InstrumentationScope(
                            instrumenting_module_name, instrumenting_library_version, schema_url, attributes
                        )
                    except Exception:
                        _log.exception("get_tracer: invalid scope attributes ignored")
                        scope = InstrumentationScope(
                            instrumenting_module_name, instrumenting_library_version, schema_url
                        )
                    tracer = self._tracers[key] = Tracer(self, scope)
        return tracer

    def add_span_processor(self, span_processor) -> None:
        """Processors run in the order they were added."""
        self._processor.add_span_processor(span_processor)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._processor.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: int = 30000) -> bool:
        if self._shutdown_done:
            _log.warning("shutdown can only be called once")
            return True
        self._shutdown_done = True
        if self._atexit is not None:
            atexit.unregister(self._atexit)
            self._atexit = None
        return self._processor.shutdown(timeout_millis)

    def stats(self) -> dict:
        """Counters: spans ended (recording), queued, dropped, exported, export failures."""
        stats = self._processor.stats()
        stats["spans_started"] = count_value(self._started)
        stats["spans_ended"] = count_value(self._ended)
        return stats
