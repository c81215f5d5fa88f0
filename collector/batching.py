"""Batching rules shared by the ``batch`` processor and the exporters' sending
queues (Go's ``exporterhelper`` ``sending_queue.batch``).

- ``QueueBatchConfig``: ``flush_timeout`` / ``min_size`` / ``max_size`` /
  ``sizer``, with the Go exporterhelper's names and defaults.
- ``SIZERS``: how a request is measured (``items`` = spans, ``requests``,
  ``bytes`` = serialized size); queue capacity and batch sizes use them.
- ``split_batch``: cut an oversized request at item granularity (spans, data points, log records).

Batches are merged as serialized bytes (``Batch.merge``): no span is decoded
unless a request must be split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .component import ComponentConfig, ConfigError, Duration
from .consumer import Batch

__all__ = ["QueueBatchConfig", "SIZERS", "sizer", "split_batch", "split_to_size"]


def _items(traces: Batch) -> int:
    return traces.item_count


def _requests(traces: Batch) -> int:
    return 1


def _bytes(traces: Batch) -> int:
    return len(traces.to_bytes())


SIZERS: dict[str, Callable[[Batch], int]] = {"items": _items, "requests": _requests, "bytes": _bytes}


def sizer(name: str) -> Callable[[Batch], int]:
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


# Each signal's request nests resources -> scopes -> items; the field names per signal:
_LAYOUT = {
    "traces": ("resource_spans", "resource", "scope_spans", "spans"),
    "metrics": ("resource_metrics", "resource", "scope_metrics", "metrics"),
    "logs": ("resource_logs", "resource", "scope_logs", "log_records"),
}


def _metric_points(metric):
    kind = metric.WhichOneof("data")
    return getattr(metric, kind).data_points if kind is not None else ()


def _metric_slice(metric, start: int, stop: int):
    """A copy of ``metric`` holding only its data points ``start:stop``."""
    part = type(metric)()
    part.CopyFrom(metric)
    points = _metric_points(part)
    del points[stop:]
    del points[:start]
    return part


def split_batch(batch: Batch, max_items: int) -> list[Batch]:
    """Cut ``batch`` into requests of at most ``max_items`` items (spans, data points, log
    records), at item granularity, keeping each under a copy of its Resource and scope.  A
    metric whose points do not fit is cut into several metrics with the same descriptor."""
    if batch.item_count <= max_items:
        return [batch]
    resources_key, _, scopes_key, items_key = _LAYOUT[batch.signal]
    metrics = batch.signal == "metrics"
    make = type(batch)
    out: list[Batch] = []
    cur, room = make.request_class(), max_items
    for rs in getattr(batch.message, resources_key):
        out_rs = None  # rs's copy in ``cur``, created when its first item lands there
        for ss in getattr(rs, scopes_key):
            out_ss = None
            for item in getattr(ss, items_key):
                points = _metric_points(item) if metrics else None
                weight = len(points) if metrics else 1  # type: ignore[arg-type]
                done = 0
                while True:
                    if room == 0:
                        out.append(make(cur, None, max_items))
                        cur, room, out_rs, out_ss = make.request_class(), max_items, None, None
                    if out_rs is None:
                        out_rs = getattr(cur, resources_key).add()
                        out_rs.resource.CopyFrom(rs.resource)
                        out_rs.schema_url = rs.schema_url
                    if out_ss is None:
                        out_ss = getattr(out_rs, scopes_key).add()
                        out_ss.scope.CopyFrom(ss.scope)
                        out_ss.schema_url = ss.schema_url
                    take = min(room, weight - done)
                    if take == weight:
                        getattr(out_ss, items_key).append(item)
                    else:
                        getattr(out_ss, items_key).append(_metric_slice(item, done, done + take))
                    done += take
                    room -= take
                    if done >= weight:
                        break
            out_ss = None
        out_rs = None
    if room < max_items:
        out.append(make(cur, None, max_items - room))
    return out


def split_to_size(traces: Batch, max_size: int, sizer_name: str) -> list[Batch]:
    """``traces`` cut so each part measures at most ``max_size`` (a request is never cut
    by the ``requests`` sizer; ``bytes`` cuts by the average span size, at least one span)."""
    if not max_size or sizer_name == "requests":
        return [traces]
    if sizer_name == "items":
        return split_batch(traces, max_size)
    size = len(traces.to_bytes())
    if size <= max_size or traces.item_count <= 1:
        return [traces]
    return split_batch(traces, max(1, traces.item_count * max_size // size))
