"""What the tail sampler holds: buffered traces (by id, in arrival order, bounded)
and the decision caches that let late spans follow their trace's decision.

A buffered trace holds references to its spans inside the received requests
(upb keeps those requests alive), never copies; only a sampled trace is
serialized again, span by span with its resource and scope (protobuf messages
concatenate, so forwarding joins those bytes).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

from otel_lite.otlp.wire import (
    T_REQUEST_RESOURCE_SPANS,
    T_RESOURCE_SPANS_RESOURCE,
    T_RESOURCE_SPANS_SCOPE_SPANS,
    T_SCHEMA_URL,
    T_SCOPE_SPANS_SCOPE,
    T_SCOPE_SPANS_SPAN,
    len_field,
)

__all__ = ["Trace", "TraceBuffer", "DecisionCache"]


class Trace:
    """One buffered trace: its spans and bookkeeping.

    ``groups`` holds (ResourceSpans, ScopeSpans, [Span, ...]) references into the
    received requests rather than copies: copying spans was most of this
    processor's cost, and only sampled traces are ever serialized again."""

    __slots__ = ("groups", "span_count", "arrival")

    def __init__(self, arrival: float):
        self.groups: list[tuple] = []
        self.span_count = 0
        self.arrival = arrival

    def spans(self) -> Iterator:
        for _, _, spans in self.groups:
            yield from spans

    def to_bytes(self) -> bytes:
        """The trace as serialized ExportTraceServiceRequest fields (one ResourceSpans per group)."""
        out = []
        for rs, ss, spans in self.groups:
            scope_spans = len_field(T_SCOPE_SPANS_SCOPE, ss.scope.SerializeToString()) + b"".join(
                len_field(T_SCOPE_SPANS_SPAN, span.SerializeToString()) for span in spans
            )
            if ss.schema_url:
                scope_spans += len_field(T_SCHEMA_URL, ss.schema_url.encode())
            resource_spans = len_field(T_RESOURCE_SPANS_RESOURCE, rs.resource.SerializeToString()) + len_field(
                T_RESOURCE_SPANS_SCOPE_SPANS, scope_spans
            )
            if rs.schema_url:
                resource_spans += len_field(T_SCHEMA_URL, rs.schema_url.encode())
            out.append(len_field(T_REQUEST_RESOURCE_SPANS, resource_spans))
        return b"".join(out)


class TraceBuffer:
    """Buffered traces by trace id, oldest first, at most ``capacity`` (Go's ``num_traces``).

    An OrderedDict: taking the oldest trace is O(1) (a plain dict scans the
    holes its earlier deletions left at the front, which made each decision
    tick and each eviction cost more the more traces had gone before)."""

    __slots__ = ("_traces", "capacity", "get")

    def __init__(self, capacity: int):
        self._traces: OrderedDict[bytes, Trace] = OrderedDict()
        self.capacity = capacity
        self.get = self._traces.get  # the hot lookup, without a method call in between

    def __len__(self) -> int:
        return len(self._traces)

    def add(self, tid: bytes, now: float) -> tuple[Trace, tuple[Trace, ...] | list[Trace]]:
        """A new trace for ``tid``, and the oldest traces evicted to make room for it."""
        traces = self._traces
        evicted: tuple[Trace, ...] | list[Trace] = ()
        if len(traces) >= self.capacity:
            evicted = []
            while len(traces) >= self.capacity:
                evicted.append(traces.popitem(last=False)[1])
        trace = traces[tid] = Trace(now)
        return trace, evicted

    def pop_due(self, deadline: float | None) -> Iterator[tuple[bytes, Trace]]:
        """Remove and yield (trace id, trace), oldest first, for every trace that arrived
        at or before ``deadline`` (every trace when None)."""
        traces = self._traces
        while traces:
            tid = next(iter(traces))
            if deadline is not None and traces[tid].arrival > deadline:
                return
            yield traces.popitem(last=False)

    def clear(self) -> None:
        self._traces.clear()


class DecisionCache:
    """Bounded LRU of decided trace ids -> when decided (size 0 = disabled)."""

    __slots__ = ("size", "_d")

    def __init__(self, size: int):
        self.size = size
        self._d: OrderedDict[bytes, float] = OrderedDict()

    def put(self, key: bytes, when: float) -> None:
        if self.size <= 0:
            return
        self._d[key] = when
        self._d.move_to_end(key)
        if len(self._d) > self.size:
            self._d.popitem(last=False)

    def get(self, key: bytes) -> float | None:
        when = self._d.get(key)
        if when is not None:
            self._d.move_to_end(key)
        return when
