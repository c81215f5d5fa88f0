"""The one data-plane interface of the collector and its error taxonomy.

Every component that accepts data implements ``Consumer.consume``, for the
signals it handles (a ``Batch``: ``Traces``, ``Metrics`` or ``Logs``).  The
exception a consumer raises *is* the backpressure protocol: receivers map it to
gRPC codes / HTTP statuses, exporters classify their peer's answers into it.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

__all__ = [
    "SIGNALS",
    "Batch",
    "Traces",
    "Metrics",
    "Logs",
    "batch_class",
    "TracesConsumer",
    "Consumer",
    "ConsumerError",
    "RetryableError",
    "ThrottledError",
    "PermanentError",
    "count_spans",
    "count_data_points",
    "count_log_records",
]

#: The signals a pipeline carries, in the order the Go Collector lists them.
SIGNALS = ("traces", "metrics", "logs")


def count_spans(request: ExportTraceServiceRequest) -> int:
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)


_POINT_FIELDS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")


def count_data_points(request: ExportMetricsServiceRequest) -> int:
    """Data points, as Go's ``pmetric.Metrics.DataPointCount``: a metric with no data counts 0."""
    n = 0
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind is not None:
                    n += len(getattr(metric, kind).data_points)
    return n


def count_log_records(request: ExportLogsServiceRequest) -> int:
    return sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)


class Batch:
    """A batch of one signal's OTLP data: a parsed ``Export*ServiceRequest``, its serialized
    bytes, or both.  ``Traces``, ``Metrics`` and ``Logs`` are its three kinds.

    Whichever form is missing is produced lazily and cached, so a pipeline that never looks
    at the data forwards the receiver's bytes without re-encoding them.  A processor that
    changes the message must call ``modified()`` (or build a new batch) so stale bytes are
    not forwarded.  ``item_count`` counts spans, data points or log records.
    """

    __slots__ = ("_message", "_raw", "item_count", "metadata")

    signal: ClassVar[str]
    #: the item's name in metric names and log lines: spans, metric_points, log_records
    items: ClassVar[str]
    request_class: ClassVar[Any]
    response_class: ClassVar[Any]
    #: the OTLP gRPC service (its one method is ``Export``) and the OTLP/HTTP path
    grpc_service: ClassVar[str]
    url_path: ClassVar[str]

    def __init__(self, message=None, raw: bytes | None = None, item_count: int | None = None, metadata=None):
        if message is None and raw is None:
            message = self.request_class()
        self._message = message
        self._raw = raw
        if item_count is None:
            item_count = self.count(self.message)
        self.item_count = item_count
        # client metadata (e.g. request headers when include_metadata is on)
        self.metadata = metadata

    @staticmethod
    def count(request) -> int:  # pragma: no cover - each kind defines it
        raise NotImplementedError

    @classmethod
    def from_bytes(cls, raw: bytes, item_count: int | None = None):
        """Wrap serialized bytes; raises ``google.protobuf.message.DecodeError`` when they do not parse
        and ``item_count`` is not given (it is computed by parsing)."""
        if item_count is None:
            msg = cls.request_class.FromString(raw)
            return cls(msg, raw, cls.count(msg))
        return cls(None, raw, item_count)

    @property
    def message(self):
        if self._message is None:
            self._message = self.request_class.FromString(self._raw)
        return self._message

    def to_bytes(self) -> bytes:
        if self._raw is None:
            self._raw = self.message.SerializeToString()  # one of the two is always set
        return self._raw

    @property
    def raw(self) -> bytes | None:
        """The serialized form if it is at hand (never serializes)."""
        return self._raw

    def may_contain(self, needle: bytes) -> bool:
        """False only when the serialized form is at hand and ``needle`` is not in it:
        a processor can skip looking for an attribute key no item has."""
        return self._raw is None or needle in self._raw

    def modified(self) -> None:
        """Call after mutating ``message`` in place: drops cached bytes and recounts items."""
        self._raw = None
        self.item_count = self.count(self.message)

    def same_bytes(self):
        """Another batch over the same (immutable) bytes, with the same metadata: what a fan-out
        hands each further pipeline, so a processor mutating its message changes no other."""
        return type(self)(None, self.to_bytes(), self.item_count, self.metadata)

    @classmethod
    def merge(cls, parts: list):
        """Concatenate batches of one signal.  Serialized protobuf messages merge by concatenation
        (repeated fields append), so no item is decoded here."""
        if len(parts) == 1:
            return parts[0]
        raw = b"".join(p.to_bytes() for p in parts)
        return type(parts[0])(None, raw, sum(p.item_count for p in parts))

    def __len__(self) -> int:
        return self.item_count

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.items}={self.item_count})"


class Traces(Batch):
    __slots__ = ()
    signal = "traces"
    items = "spans"
    request_class = ExportTraceServiceRequest
    response_class = ExportTraceServiceResponse
    grpc_service = "opentelemetry.proto.collector.trace.v1.TraceService"
    url_path = "/v1/traces"
    count = staticmethod(count_spans)

    @property
    def span_count(self) -> int:
        return self.item_count


class Metrics(Batch):
    __slots__ = ()
    signal = "metrics"
    items = "metric_points"
    request_class = ExportMetricsServiceRequest
    response_class = ExportMetricsServiceResponse
    grpc_service = "opentelemetry.proto.collector.metrics.v1.MetricsService"
    url_path = "/v1/metrics"
    count = staticmethod(count_data_points)


class Logs(Batch):
    __slots__ = ()
    signal = "logs"
    items = "log_records"
    request_class = ExportLogsServiceRequest
    response_class = ExportLogsServiceResponse
    grpc_service = "opentelemetry.proto.collector.logs.v1.LogsService"
    url_path = "/v1/logs"
    count = staticmethod(count_log_records)


_BY_SIGNAL: dict[str, type[Batch]] = {c.signal: c for c in (Traces, Metrics, Logs)}


def batch_class(signal: str) -> type[Batch]:
    """``Traces``, ``Metrics`` or ``Logs`` for a signal's name."""
    return _BY_SIGNAL[signal]


class Consumer(Protocol):
    async def consume(self, batch: Batch) -> None:
        """Accept ``batch`` or raise a ``ConsumerError``.  Returning means the
        data is now the consumer's responsibility."""
        ...


class TracesConsumer(Protocol):
    async def consume(self, traces: Traces) -> None: ...


class ConsumerError(Exception):
    """Base of every error a consumer may raise.

    ``failed``, when set, is the part of the data that failed (Go's
    ``consumererror.NewTraces``): the rest was delivered, so a retry resends
    only ``failed``.  None means all of it failed."""

    retryable = False
    failed: Batch | None = None

    def with_failed(self, failed: Batch) -> ConsumerError:
        self.failed = failed
        return self


class RetryableError(ConsumerError):
    """Refused for now (memory limiter, full queue, backend unavailable): the
    sender should retry.  Receivers answer 503 / UNAVAILABLE."""

    retryable = True


class ThrottledError(RetryableError):
    """Refused with a server-chosen delay.  Receivers answer 429 /
    RESOURCE_EXHAUSTED with Retry-After / RetryInfo."""

    def __init__(self, message: str, delay: float):
        super().__init__(message)
        self.delay = delay


class PermanentError(ConsumerError):
    """The data can never be accepted: the sender must drop it.  Receivers
    answer 500 / INTERNAL (or ``grpc_code`` / ``http_status`` when set, e.g. 400
    for data the backend rejected as invalid)."""

    def __init__(self, message: str, grpc_code=None, http_status: int | None = None):
        super().__init__(message)
        self.grpc_code = grpc_code
        self.http_status = http_status
