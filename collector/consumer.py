"""The one data-plane interface of the collector and its error taxonomy.

Every component that accepts data implements ``TracesConsumer.consume``.  The
exception a consumer raises *is* the backpressure protocol: receivers map it to
gRPC codes / HTTP statuses, exporters classify their peer's answers into it.
"""

from __future__ import annotations

from typing import Protocol

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

__all__ = [
    "Traces",
    "TracesConsumer",
    "ConsumerError",
    "RetryableError",
    "ThrottledError",
    "PermanentError",
    "count_spans",
]


def count_spans(request: ExportTraceServiceRequest) -> int:
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)


class Traces:
    """A batch of OTLP trace data: a parsed ``ExportTraceServiceRequest``, its
    serialized bytes, or both.

    Whichever form is missing is produced lazily and cached, so a pipeline that
    never looks at spans forwards the receiver's bytes without re-encoding them.
    A processor that changes the message must call ``modified()`` (or build a new
    ``Traces``) so stale bytes are not forwarded.
    """

    __slots__ = ("_message", "_raw", "span_count", "metadata")

    def __init__(
        self,
        message: ExportTraceServiceRequest | None = None,
        raw: bytes | None = None,
        span_count: int | None = None,
        metadata: dict | None = None,
    ):
        if message is None and raw is None:
            message = ExportTraceServiceRequest()
        self._message = message
        self._raw = raw
        if span_count is None:
            span_count = count_spans(self.message)
        self.span_count = span_count
        # client metadata (e.g. request headers when include_metadata is on)
        self.metadata = metadata

    @classmethod
    def from_bytes(cls, raw: bytes, span_count: int | None = None) -> Traces:
        """Wrap serialized bytes; raises ``google.protobuf.message.DecodeError`` when they do not parse
        and ``span_count`` is not given (it is computed by parsing)."""
        if span_count is None:
            msg = ExportTraceServiceRequest.FromString(raw)
            return cls(msg, raw, count_spans(msg))
        return cls(None, raw, span_count)

    @property
    def message(self) -> ExportTraceServiceRequest:
        if self._message is None:
            self._message = ExportTraceServiceRequest.FromString(self._raw)
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
        a processor can skip looking for an attribute key no span has."""
        return self._raw is None or needle in self._raw

    def modified(self) -> None:
        """Call after mutating ``message`` in place: drops cached bytes and recounts spans."""
        self._raw = None
        self.span_count = count_spans(self.message)

    @staticmethod
    def merge(parts: list[Traces]) -> Traces:
        """Concatenate batches.  Serialized protobuf messages merge by concatenation
        (repeated fields append), so no span is decoded here."""
        if len(parts) == 1:
            return parts[0]
        raw = b"".join(p.to_bytes() for p in parts)
        return Traces(None, raw, sum(p.span_count for p in parts))

    def __len__(self) -> int:
        return self.span_count

    def __repr__(self) -> str:
        return f"Traces(spans={self.span_count})"


class TracesConsumer(Protocol):
    async def consume(self, traces: Traces) -> None:
        """Accept ``traces`` or raise a ``ConsumerError``.  Returning means the
        data is now the consumer's responsibility."""
        ...


class ConsumerError(Exception):
    """Base of every error a consumer may raise.

    ``failed``, when set, is the part of the data that failed (Go's
    ``consumererror.NewTraces``): the rest was delivered, so a retry resends
    only ``failed``.  None means all of it failed."""

    retryable = False
    failed: Traces | None = None

    def with_failed(self, failed: Traces) -> ConsumerError:
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
