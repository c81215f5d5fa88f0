"""Batching rules shared by the ``batch`` processor and the exporters' sending
queues (Go's ``exporterhelper`` ``sending_queue.batch``).

- ``QueueBatchConfig``: ``flush_timeout`` / ``min_size`` / ``max_size`` /
  ``sizer``, with the Go exporterhelper's names and defaults.
- ``SIZERS``: how a request is measured (``items`` = spans, ``requests``,
  ``bytes`` = serialized size); queue capacity and batch sizes use them.
- ``split_traces``: cut an oversized request at span granularity.

Batches are merged as serialized bytes (``Traces.merge``): no span is decoded
unless a request must be split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from .component import ComponentConfig, ConfigError, Duration
from .consumer import Traces

__all__ = ["QueueBatchConfig", "SIZERS", "sizer", "split_traces", "split_to_size"]


def _items(traces: Traces) -> int:
    return traces.span_count


def _requests(traces: Traces) -> int:
    return 1


def _bytes(traces: Traces) -> int:
    return len(traces.to_bytes())


SIZERS: dict[str, Callable[[Traces], int]] = {"items": _items, "requests": _requests, "bytes": _bytes}


def sizer(name: str) -> Callable[[Traces], int]:
    return SIZERS[name]


def check_sizer(name: str) -> None:
    if name not in SIZERS:
        raise ConfigError("sizer", f"unsupported sizer {name!r} (use items, requests or bytes)")


@dataclass
class QueueBatchConfig(ComponentConfig):
    """``sending_queue.batch`` (Go ``exporterhelper.BatchConfig``): a batch is sent once it
    holds ``min_size`` (in ``sizer`` units) or ``flush_timeout`` after its first request;
    ``max_size`` (0 = no limit) splits larger batches."""

    flush_timeout: Duration = Duration(0.2)
    min_size: int = 8192
    max_size: int = 0
    sizer: str = "items"

    def validate(self) -> None:
        check_sizer(self.sizer)
        if self.flush_timeout <= 0:
            raise ConfigError("flush_timeout", "must be positive")
        if self.min_size < 0:
            raise ConfigError("min_size", "must not be negative")
        if self.max_size < 0:
            raise ConfigError("max_size", "must not be negative")
        if self.max_size and self.max_size < self.min_size:
            raise ConfigError("max_size", "must be greater or equal to min_size")


def split_traces(traces: Traces, max_spans: int) -> list[Traces]:
    """Cut ``traces`` into requests of at most ``max_spans`` spans, at span
    granularity, keeping each span under a copy of its Resource and scope."""
    if traces.span_count <= max_spans:
        return [traces]
    out: list[Traces] = []
    cur, room = ExportTraceServiceRequest(), max_spans
    for rs in traces.message.resource_spans:
        out_rs = None  # rs's copy in ``cur``, created when its first span lands there
        for ss in rs.scope_spans:
            spans, start, n = ss.spans, 0, len(ss.spans)
            while start < n:
                if room == 0:
                    out.append(Traces(cur, None, max_spans))
                    cur, room, out_rs = ExportTraceServiceRequest(), max_spans, None
                if out_rs is None:
                    out_rs = cur.resource_spans.add()
                    out_rs.resource.CopyFrom(rs.resource)
                    out_rs.schema_url = rs.schema_url
                out_ss = out_rs.scope_spans.add()
                out_ss.scope.CopyFrom(ss.scope)
                out_ss.schema_url = ss.schema_url
                take = min(room, n - start)
                out_ss.spans.extend(spans[start : start + take])
                start += take
                room -= take
    if room < max_spans:
        out.append(Traces(cur, None, max_spans - room))
    return out


def split_to_size(traces: Traces, max_size: int, sizer_name: str) -> list[Traces]:
    """``traces`` cut so each part measures at most ``max_size`` (a request is never cut
    by the ``requests`` sizer; ``bytes`` cuts by the average span size, at least one span)."""
    if not max_size or sizer_name == "requests":
        return [traces]
    if sizer_name == "items":
        return split_traces(traces, max_size)
    size = len(traces.to_bytes())
    if size <= max_size or traces.span_count <= 1:
        return [traces]
    return split_traces(traces, max(1, traces.span_count * max_size // size))
