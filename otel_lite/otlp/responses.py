"""What an OTLP server answers and how its client reads it (OTLP spec,
``docs/specification.md``; RFC 9110 for ``Retry-After``).

* Retryable gRPC codes: CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE,
  UNAVAILABLE, DATA_LOSS; RESOURCE_EXHAUSTED only when the status carries a
  ``google.rpc.RetryInfo``; every other code is final.
* Retryable HTTP statuses: 429, 502, 503, 504; every other 4xx/5xx is final.
* The server's delay: HTTP ``Retry-After`` (delay-seconds or an HTTP-date) or
  gRPC ``RetryInfo.retry_delay`` in the status details.
* Success may carry a partial success (``rejected_spans``, ``error_message``):
  never retried.
* A failure body is a ``google.rpc.Status`` (protobuf, or JSON for JSON requests).

Only the standard library is imported up front; the protobuf types load on
first use, so this module costs nothing to an importer that never parses.
"""

from __future__ import annotations

import json
import math
import re
import time
from typing import NamedTuple

__all__ = [
    "GRPC_CODE_NAMES",
    "GRPC_RETRYABLE_CODES",
    "HTTP_RETRYABLE_STATUSES",
    "STATUS_DETAILS_TRAILER",
    "RETRY_INFO_TRAILER",
    "grpc_code_name",
    "grpc_code_number",
    "grpc_code_retryable",
    "http_status_retryable",
    "parse_retry_after",
    "format_retry_after",
    "grpc_retry_delay",
    "retry_delay_from_status",
    "rpc_status",
    "PartialSuccess",
    "partial_success",
    "parse_partial_success",
    "error_message",
    "media_type",
]

# -- classification ---------------------------------------------------------------------------------

# google.rpc.Code numbers -> names (the names of grpc.StatusCode members)
GRPC_CODE_NAMES = (
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
)
_GRPC_CODE_NUMBERS = {name: number for number, name in enumerate(GRPC_CODE_NAMES)}
# retried whatever the status says (RESOURCE_EXHAUSTED is retried only with RetryInfo: see grpc_code_retryable)
GRPC_RETRYABLE_CODES = frozenset(
    ("CANCELLED", "DEADLINE_EXCEEDED", "ABORTED", "OUT_OF_RANGE", "UNAVAILABLE", "DATA_LOSS")
)
HTTP_RETRYABLE_STATUSES = frozenset((429, 502, 503, 504))


def grpc_code_name(code) -> str:
    """The name of a gRPC status code given as a ``grpc.StatusCode``, its name or its number."""
    if isinstance(code, int):
        if 0 <= code < len(GRPC_CODE_NAMES):
            return GRPC_CODE_NAMES[code]
        return "UNKNOWN"  # gRPC's rule for a code it does not know
    return str(getattr(code, "name", code))


def grpc_code_number(code) -> int:
    """The number of a gRPC status code given as a ``grpc.StatusCode``, its name or its number."""
    if isinstance(code, int):
        return code
    value = getattr(code, "value", None)
    if isinstance(value, tuple) and value and isinstance(value[0], int):  # grpc.StatusCode: (14, "unavailable")
        return value[0]
    return _GRPC_CODE_NUMBERS.get(grpc_code_name(code), _GRPC_CODE_NUMBERS["UNKNOWN"])


def grpc_code_retryable(code, has_retry_info: bool) -> bool:
    """Whether a call that failed with ``code`` (``grpc.StatusCode``, name or number) may be
    retried; ``has_retry_info``: the status carried a ``RetryInfo`` (required for RESOURCE_EXHAUSTED)."""
    name = grpc_code_name(code)
    if name == "RESOURCE_EXHAUSTED":
        return bool(has_retry_info)
    return name in GRPC_RETRYABLE_CODES


def http_status_retryable(status: int) -> bool:
    """Whether an OTLP/HTTP answer with ``status`` may be retried."""
    return status in HTTP_RETRYABLE_STATUSES


# -- the server's delay -----------------------------------------------------------------------------

_DELAY_SECONDS = re.compile(r"[0-9]+")  # RFC 9110 delay-seconds = 1*DIGIT (ASCII digits only)
_MAX_DELAY = float(2**31 - 1)  # seconds (68 years): the longest delay we read or send


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from an HTTP ``Retry-After`` value (RFC 9110 §10.2.3): delay-seconds
    (a whole non-negative number) or an HTTP-date (any of the three forms; a date without a
    zone, as in the asctime form, is GMT) from which the time ``now`` (default: the clock) is
    subtracted, 0 for a date in the past; at most 2**31 - 1.  None when absent or invalid
    (negative or fractional numbers, unknown date forms): the caller then uses its own backoff."""
    if not value:
        return None
    value = value.strip(" \t")
    if _DELAY_SECONDS.fullmatch(value):
        return min(float(value), _MAX_DELAY)
    import email.utils  # here: importing it costs more than everything else in this package
    from datetime import UTC

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # asctime dates (and "-0000") name no zone: HTTP-dates are always GMT
        when = when.replace(tzinfo=UTC)
    return _bounded_delay(when.timestamp() - (time.time() if now is None else now))


def _bounded_delay(seconds: float) -> float:
    """NaN and negative delays are 0, the rest at most _MAX_DELAY."""
    return min(seconds, _MAX_DELAY) if seconds > 0 else 0.0


def format_retry_after(seconds: float) -> str:
    """The ``Retry-After`` value (delay-seconds) for a delay: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(_bounded_delay(seconds))))


STATUS_DETAILS_TRAILER = "grpc-status-details-bin"  # the serialized google.rpc.Status, the standard place
RETRY_INFO_TRAILER = "google.rpc.retryinfo-bin"  # a bare RetryInfo, the only place opentelemetry-python reads
_RETRY_INFO_NAME = "google.rpc.RetryInfo"
_MAX_TRAILER_BYTES = 64 * 1024  # a status-details trailer larger than this is not parsed


def _duration_seconds(duration) -> float:
    return max(0.0, duration.seconds + duration.nanos / 1e9)


def retry_delay_from_status(status) -> float | None:
    """The ``RetryInfo`` delay (seconds, negative ones as 0) among a ``google.rpc.Status``'s
    details, or None.  The detail is recognised by its type name (what follows the last ``/`` of
    its type URL, as ``Any`` says), and a malformed one counts as absent."""
    from google.rpc import error_details_pb2

    for detail in status.details:
        if detail.type_url.rpartition("/")[2] == _RETRY_INFO_NAME:
            try:
                info = error_details_pb2.RetryInfo.FromString(detail.value)
            except Exception:  # a malformed detail is the server's bug: fall back to our own backoff
                return None
            return _duration_seconds(info.retry_delay)
    return None


def grpc_retry_delay(trailing_metadata) -> float | None:
    """The ``RetryInfo`` delay in seconds carried by a failed call's trailers (a sequence of
    (key, value) pairs): in ``grpc-status-details-bin``, the standard place, or else in the
    ``google.rpc.retryinfo-bin`` trailer some servers send; None when absent.  Never raises: a
    malformed or oversized trailer counts as absent."""
    if not trailing_metadata:
        return None
    details = retry_info = None
    try:
        for key, value in trailing_metadata:
            if key == STATUS_DETAILS_TRAILER:
                details = value
            elif key == RETRY_INFO_TRAILER:
                retry_info = value
    except (TypeError, ValueError):
        return None
    from google.rpc import error_details_pb2, status_pb2

    try:
        if isinstance(details, bytes) and len(details) <= _MAX_TRAILER_BYTES:
            delay = retry_delay_from_status(status_pb2.Status.FromString(details))
            if delay is not None:
                return delay
        if isinstance(retry_info, bytes) and len(retry_info) <= _MAX_TRAILER_BYTES:
            return _duration_seconds(error_details_pb2.RetryInfo.FromString(retry_info).retry_delay)
    except Exception:  # a malformed trailer is the server's bug: fall back to our own backoff
        return None
    return None


def rpc_status(code, message: str, retry_delay: float | None = None):
    """A ``google.rpc.Status`` for ``code`` (``grpc.StatusCode``, name or number) with a
    ``RetryInfo`` detail when ``retry_delay`` (seconds) is given."""
    from google.rpc import error_details_pb2, status_pb2

    status = status_pb2.Status(code=grpc_code_number(code), message=message)
    if retry_delay is not None:
        info = error_details_pb2.RetryInfo()
        info.retry_delay.FromNanoseconds(int(_bounded_delay(retry_delay) * 1e9))
        status.details.add().Pack(info)
    return status


# -- successful answers and failure bodies ----------------------------------------------------------


class PartialSuccess(NamedTuple):
    """``ExportTracePartialSuccess``: spans the server rejected although the request succeeded."""

    rejected_spans: int = 0
    error_message: str = ""

    def __bool__(self) -> bool:
        """True when the server rejected spans or said something (the spec's partial success)."""
        return bool(self.rejected_spans or self.error_message)


def media_type(content_type: str | None) -> str:
    """``application/json`` from ``Application/JSON; charset=utf-8``: lowercase, without parameters."""
    return (content_type or "").split(";", 1)[0].strip().lower()


_REJECTED = ("rejected_spans", "rejected_data_points", "rejected_log_records")


def partial_success(response) -> PartialSuccess:
    """The partial success of an ``Export{Trace,Metrics,Logs}ServiceResponse`` message
    (``rejected_spans`` holds the rejected items of whichever signal)."""
    ps = response.partial_success
    for name in _REJECTED:
        if hasattr(ps, name):
            return PartialSuccess(getattr(ps, name), ps.error_message)
    return PartialSuccess(0, ps.error_message)


def parse_partial_success(body: bytes, content_type: str | None, response_class=None) -> PartialSuccess:
    """The partial success in an OTLP/HTTP success body: OTLP JSON when the media type is
    ``application/json``, else protobuf.  An empty body is full success; a malformed one raises
    ``ValueError`` (the data was accepted all the same: callers log it and carry on)."""
    if not body:
        return PartialSuccess()
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    response_class = response_class or ExportTraceServiceResponse
    try:
        if media_type(content_type) == "application/json":
            response = json_format.Parse(body, response_class(), ignore_unknown_fields=True)
        else:
            response = response_class.FromString(body)
    except Exception as exc:
        raise ValueError(f"malformed OTLP export response: {type(exc).__name__}: {exc}") from None
    return partial_success(response)


def error_message(body: bytes, content_type: str | None, limit: int = 512) -> str:
    """What a failure body says: the message of its ``google.rpc.Status`` (JSON or protobuf, by
    media type); without one, the body itself when it is text; else "".  At most ``limit`` characters."""
    if not body:
        return ""
    message = ""
    try:
        if media_type(content_type) == "application/json":
            data = json.loads(body)
            value = data.get("message") if isinstance(data, dict) else ""
            message = value if isinstance(value, str) else ""
        else:
            from google.rpc import status_pb2

            message = status_pb2.Status.FromString(body).message
    except Exception:  # not a Status: a proxy's HTML page, plain text, ...
        pass
    if message:
        return message[:limit]
    text = body[:limit].decode("utf-8", "replace").strip()
    return text if all(c.isprintable() or c in "\t\r\n" for c in text) else ""
