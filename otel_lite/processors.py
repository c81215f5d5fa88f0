"""Span processors: the chain the provider calls, a simple (synchronous) one
and the batch one that takes all export work off the application's threads.
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import threading
import time
import weakref

from opentelemetry import context as context_api

from ._fork import after_fork_in_child
from ._log import RateLimitedLog
from .config import env_int, pick
from .export import SpanExporter, SpanExportResult

_log = logging.getLogger("otel_lite.processors")

# instrumentations skip their own spans while an exporter runs (e.g. requests/urllib3)
_SUPPRESS_KEY = context_api._SUPPRESS_INSTRUMENTATION_KEY
_SUCCESS = SpanExportResult.SUCCESS


def _suppressed_context():
    """Set the suppression key in the current context: (the token to undo it with, the undo function).
    The same as ``attach(set_value(_SUPPRESS_KEY, True))`` and ``detach``, straight on the API's
    context variable when it runs its default contextvars runtime (a SimpleSpanProcessor does this
    for every span)."""
    return context_api.attach(context_api.set_value(_SUPPRESS_KEY, True)), context_api.detach


try:
    from opentelemetry.context.context import Context as _Context
    from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext as _ContextVarsRuntime

    if isinstance(context_api._RUNTIME_CONTEXT, _ContextVarsRuntime):
        _context_var = context_api._RUNTIME_CONTEXT._current_context
        _var_get, _var_set = _context_var.get, _context_var.set

        def _reset_quietly(token) -> None:
            try:
                _context_var.reset(token)
            except ValueError:  # another context: what the API's detach would log
                _log.debug("suppression token reset in another context")

        # the last context seen here and its suppressed copy: contexts are immutable, and exports mostly
        # run in one context (the batch worker's, or the same request context span after span)
        _last_suppressed: tuple = (None, None)

        def _suppressed_context():
            global _last_suppressed
            current = _var_get()
            seen, suppressed = _last_suppressed
            if seen is not current:
                suppressed = _Context({**current, _SUPPRESS_KEY: True})
                _last_suppressed = (current, suppressed)  # one tuple store: safe across threads
            return _var_set(suppressed), _reset_quietly
except (ImportError, AttributeError):  # another API layout: the public calls above
    pass


def count_value(counter: itertools.count) -> int:
    """Read an ``itertools.count()`` without advancing it.  The SDK counts with ``next()`` on
    ``itertools.count`` objects because that is one atomic C call under the GIL (no lock on the span
    path); the count has no reader, so it is read from its repr, ``count(N)`` (the one place that
    does; ``tests/sdk/test_batch_processor.py`` pins the format)."""
    return int(repr(counter)[6:-1])


_warn = RateLimitedLog(_log)


class SpanProcessor:
    """Interface (same as opentelemetry-sdk's).  ``on_start`` is only called for
    processors that override it."""

    def on_start(self, span, parent_context=None) -> None:
        return None

    def on_end(self, span) -> None:
        return None

    def shutdown(self, timeout_millis: int = 30000) -> bool:
        return True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _overrides_on_start(processor) -> bool:
    method = getattr(type(processor), "on_start", None)
    if method is None or method is SpanProcessor.on_start:
        return False
    try:  # opentelemetry-sdk processors whose on_start is the SDK's no-op
        from opentelemetry.sdk.trace import SpanProcessor as SdkSpanProcessor

        return method is not SdkSpanProcessor.on_start
    except ImportError:
        return True


class SpanProcessorChain(SpanProcessor):
    """The provider's processors, called in order.  The tuple is replaced, never
    mutated, so iterating it needs no lock; a failing processor is logged and
    the others still run."""

    def __init__(self):
        self._processors: tuple = ()
        self._starters: tuple = ()
        self._lock = threading.Lock()

    def add_span_processor(self, processor) -> None:
        with self._lock:
            self._processors = (*self._processors, processor)
            if _overrides_on_start(processor):
                self._starters = (*self._starters, processor)
            # with one processor (the usual case) spans go straight to it; Span.end catches its errors
            if len(self._processors) == 1:
                # an instance attribute shadowing the method: the lone processor's on_end, no loop
                self.on_end = processor.on_end  # type: ignore[method-assign]
            else:
                self.__dict__.pop("on_end", None)

    def on_start(self, span, parent_context=None) -> None:
        for processor in self._starters:
            try:
                processor.on_start(span, parent_context=parent_context)
            except Exception:
                _warn("on_start", "span processor %r failed in on_start", processor, exc_info=True)

    def on_end(self, span) -> None:
        for processor in self._processors:
            try:
                processor.on_end(span)
            except Exception:
                _warn("on_end", "span processor %r failed in on_end", processor, exc_info=True)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._each_within(
            timeout_millis, "force_flush", lambda processor, remaining: bool(processor.force_flush(remaining))
        )

    def shutdown(self, timeout_millis: int = 30000) -> bool:
        def shut(processor, remaining):
            if _takes_timeout(processor):
                return processor.shutdown(remaining) is not False
            return processor.shutdown() is not False

        return self._each_within(timeout_millis, "shutdown", shut)

    def _each_within(self, timeout_millis: int, what: str, call) -> bool:
        """Run ``call(processor, remaining_millis)`` on every processor under one shared deadline."""
        deadline = time.monotonic() + timeout_millis / 1000
        ok = True
        for processor in self._processors:
            remaining = max(0, int((deadline - time.monotonic()) * 1000))
            try:
                if isinstance(processor, (BatchSpanProcessor, SimpleSpanProcessor)):
                    result = call(processor, remaining)  # ours keep their deadline (exporter included)
                else:
                    result = _call_within(remaining / 1000, call, processor, remaining)
            except Exception:
                _warn(what, "span processor %r failed in %s", processor, what, exc_info=True)
                ok = False
                continue
            if result is _TIMED_OUT:  # left running on its thread: the caller is not blocked
                _warn(
                    what + "_timeout",
                    "span processor %r did not finish %s within %d ms",
                    processor,
                    what,
                    timeout_millis,
                )
                ok = False
            else:
                ok = result and ok
        return ok

    def stats(self) -> dict:
        stats = {
            "spans_queued": 0,
            "spans_dropped": 0,
            "spans_exported": 0,
            "export_failures": 0,
            "spans_export_failed": 0,
        }
        for processor in self._processors:
            for key, value in getattr(processor, "stats", dict)().items():
                stats[key] = stats.get(key, 0) + value
        return stats


_TIMED_OUT = object()
_GRACE = 1.0  # seconds past its deadline a plug-in gets before the caller stops waiting for it


def _call_within(seconds: float, fn, *args):
    """``fn(*args)`` on a helper thread, waited for at most ``seconds`` (plus ``_GRACE``, so that a
    plug-in that honours the same deadline is not cut off), so that a plug-in that hangs (processor,
    exporter) cannot block the application past its timeout; it is left running on its daemon thread.
    Returns the result or ``_TIMED_OUT``; re-raises what ``fn`` raised."""
    outcome: list = []

    def run():
        try:
            outcome.append((True, fn(*args)))
        except BaseException as e:  # handed to the caller
            outcome.append((False, e))

    thread = threading.Thread(target=run, name="otel_lite.deadline", daemon=True)
    try:
        thread.start()
    except RuntimeError:  # no new threads during interpreter shutdown (3.12+): call it here
        return fn(*args)
    thread.join(max(0.0, seconds) + _GRACE)
    if not outcome:
        return _TIMED_OUT
    done, value = outcome[0]
    if not done:
        raise value
    return value


def _takes_timeout(plugin) -> bool:
    """Whether ``plugin`` takes ``timeout_millis`` in ``export`` and ``shutdown``: declared by the
    interfaces (``SpanExporter``, ``SpanProcessor``), so true of their subclasses; other objects
    (opentelemetry-sdk's exporters and processors) are called without it."""
    return isinstance(plugin, (SpanExporter, SpanProcessor))


def _is_success(result) -> bool:
    """Accept our SpanExportResult, opentelemetry-sdk's, or None/True."""
    if result is _SUCCESS or result is None or result is True:  # identity first: Enum.name is a slow descriptor
        return True
    return getattr(result, "name", None) == "SUCCESS"


class _Exporting:
    """Runs one export: suppresses instrumentation, passes a ``SpanExporter`` its
    deadline, and turns exceptions into a failure result; and the exporter's shutdown."""

    def __init__(self, exporter, timeout_millis: int | None):
        self._exporter = exporter
        self._timeout_millis = timeout_millis
        self.deadline_aware = _takes_timeout(exporter)

    def __call__(self, spans, timeout_millis: int | None = None) -> bool:
        timeout = timeout_millis if timeout_millis is not None else self._timeout_millis
        token, undo = _suppressed_context()
        try:
            if self.deadline_aware and timeout is not None:
                result = self._exporter.export(spans, timeout_millis=timeout)
            else:
                result = self._exporter.export(spans)
            return _is_success(result)
        except Exception:
            _warn("export", "exporter %r raised while exporting %d spans", self._exporter, len(spans), exc_info=True)
            return False
        finally:
            undo(token)

    def shutdown(self, timeout_millis: int) -> None:
        if self.deadline_aware:
            self._exporter.shutdown(timeout_millis=timeout_millis)
        else:
            self._exporter.shutdown()


class SimpleSpanProcessor(SpanProcessor):
    """Exports each sampled span synchronously in ``end()``: for tests and
    debugging; use ``BatchSpanProcessor`` in production."""

    def __init__(self, span_exporter):
        self.span_exporter = span_exporter
        self._export = _Exporting(span_exporter, None)
        self._exported = itertools.count()
        self._failed = itertools.count()

    def on_end(self, span) -> None:
        if not span.context.trace_flags & 1:
            return
        if self._export((span,)):
            next(self._exported)
        else:
            next(self._failed)

    def shutdown(self, timeout_millis: int = 30000) -> bool:
        timeout_millis = max(0, timeout_millis)
        if _call_within(timeout_millis / 1000, self._export.shutdown, timeout_millis) is _TIMED_OUT:
            _warn("exporter_shutdown", "exporter %r did not shut down within the timeout", self.span_exporter)
            return False
        return True

    def stats(self) -> dict:
        failed = count_value(self._failed)
        return {"spans_exported": count_value(self._exported), "spans_export_failed": failed, "export_failures": failed}


class BatchSpanProcessor(SpanProcessor):
    """Queues sampled spans and exports them in batches on a worker thread.

    ``on_end`` only appends to a deque (atomic under the GIL, no lock) and,
    once per batch, wakes the worker.  A full queue drops the new span and
    counts it: the application is never blocked.  Settings come from the
    arguments, then ``OTEL_BSP_*``, then the spec's defaults.  Fork-safe: a
    child process starts with an empty queue and its own worker.
    """

    def __init__(
        self,
        span_exporter,
        max_queue_size: int | None = None,
        schedule_delay_millis: float | None = None,
        max_export_batch_size: int | None = None,
        export_timeout_millis: float | None = None,
    ):
        self.span_exporter = span_exporter
        max_queue_size = pick(max_queue_size, env_int("OTEL_BSP_MAX_QUEUE_SIZE", minimum=1), 2048)
        schedule_delay_millis = pick(schedule_delay_millis, env_int("OTEL_BSP_SCHEDULE_DELAY", minimum=0), 5000)
        max_export_batch_size = pick(max_export_batch_size, env_int("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", minimum=1), 512)
        export_timeout_millis = pick(export_timeout_millis, env_int("OTEL_BSP_EXPORT_TIMEOUT", minimum=0), 30000)
        if max_queue_size <= 0:
            raise ValueError("max_queue_size must be a positive integer.")
        if max_export_batch_size <= 0:
            raise ValueError("max_export_batch_size must be a positive integer.")
        if max_export_batch_size > max_queue_size:
            raise ValueError("max_export_batch_size must be less than or equal to max_queue_size.")
        if schedule_delay_millis < 0:
            raise ValueError("schedule_delay_millis must be non-negative.")
        self.max_queue_size = max_queue_size
        self._capacity = max_queue_size  # 0 after shutdown: late spans are dropped and counted
        self.schedule_delay_millis = schedule_delay_millis
        self.max_export_batch_size = max_export_batch_size
        self.export_timeout_millis = export_timeout_millis
        self._wake_at = max_export_batch_size - 1
        self._export = _Exporting(span_exporter, int(export_timeout_millis) or None)
        self._shutdown = False
        self._dropped = itertools.count()
        # written only by the worker thread, so plain ints are safe
        self._exported = 0
        self._failed_spans = 0
        self._failures = 0
        self._init_worker()
        ref = weakref.WeakMethod(self._after_fork)
        after_fork_in_child(lambda: (ref() or (lambda: None))())

    def _init_worker(self) -> None:
        self._pid = os.getpid()
        self._queue: collections.deque = collections.deque()
        self._wake = threading.Event()
        self._waking = False
        self._flush_requests: list[threading.Event] = []
        self._worker = threading.Thread(target=self._run, name="otel_lite.BatchSpanProcessor", daemon=True)
        self._worker.start()

    def _after_fork(self) -> None:
        # the parent's queued spans are the parent's to export; once per process (two hooks may call this)
        if not self._shutdown and self._pid != os.getpid():
            self._init_worker()

    def on_end(self, span) -> None:
        if not span._context[3] & 1:
            return
        queue = self._queue
        size = len(queue)
        if size >= self._capacity:
            next(self._dropped)
            if self._shutdown:
                _warn(
                    "ended_after_shutdown",
                    "span %r ended after the BatchSpanProcessor was shut down: dropped",
                    span.name,
                )
            else:
                _warn("queue_full", "BatchSpanProcessor queue is full (%d spans): dropping spans", self.max_queue_size)
            return
        queue.append(span)
        if size >= self._wake_at and not self._waking:
            if self._pid != os.getpid():  # forked without at-fork hooks (e.g. uWSGI)
                self._after_fork()
                return
            self._waking = True
            self._wake.set()

    def _run(self) -> None:
        context_api.attach(context_api.set_value(_SUPPRESS_KEY, True))
        wake, delay = self._wake, self.schedule_delay_millis / 1000
        while True:
            wake.wait(delay)
            wake.clear()
            self._waking = False
            flushes = self._take_flush_requests()
            self._drain()
            for event in flushes:
                event.set()
            if self._shutdown:
                self._drain()
                for event in self._take_flush_requests():
                    event.set()
                return

    def _take_flush_requests(self) -> list:
        requests, self._flush_requests = self._flush_requests, []
        return requests

    def _drain(self) -> None:
        queue, size = self._queue, self.max_export_batch_size
        while queue:
            batch = []
            pop = queue.popleft
            try:
                for _ in range(min(size, len(queue))):
                    batch.append(pop())
            except IndexError:  # emptied by a concurrent drain after fork
                pass
            if not batch:
                return
            if self._export(batch):
                self._exported += len(batch)
            else:
                self._failures += 1
                self._failed_spans += len(batch)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        if self._shutdown:
            return True
        event = threading.Event()
        self._flush_requests.append(event)
        self._wake.set()
        return event.wait(max(0, timeout_millis) / 1000)

    def shutdown(self, timeout_millis: int = 30000) -> bool:
        if self._shutdown:
            return True
        deadline = time.monotonic() + max(0, timeout_millis) / 1000
        self._shutdown = True
        self._capacity = 0  # spans ending from now on have no worker to export them
        self._wake.set()
        self._worker.join(max(0.0, deadline - time.monotonic()))
        drained = not self._worker.is_alive()
        try:
            remaining = max(0, int((deadline - time.monotonic()) * 1000))
            result = _call_within(remaining / 1000, self._export.shutdown, remaining)
            if result is _TIMED_OUT:  # an exporter that hangs must not hold the application (or its exit)
                _warn("exporter_shutdown", "exporter %r did not shut down within the timeout", self.span_exporter)
        except Exception:
            _warn("exporter_shutdown", "exporter %r failed to shut down", self.span_exporter, exc_info=True)
        return drained

    def stats(self) -> dict:
        return {
            "spans_queued": len(self._queue),
            "spans_dropped": count_value(self._dropped),
            "spans_exported": self._exported,
            "spans_export_failed": self._failed_spans,
            "export_failures": self._failures,
        }
