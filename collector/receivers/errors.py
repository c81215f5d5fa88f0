"""How every receiver answers a pipeline error (the Go Collector's ``receiver/otlpreceiver/internal/errors``).

The exception a consumer raises is the backpressure protocol (``otel_lite.collector.consumer``); this module is
the one place it becomes an answer, for every receiver and transport:

======================================  ======================================  ==========================
pipeline error                          gRPC                                    HTTP
======================================  ======================================  ==========================
``ThrottledError(delay)``               RESOURCE_EXHAUSTED + ``RetryInfo``      429 + ``Retry-After``
``RetryableError``, any other error     UNAVAILABLE                             503
``PermanentError``                      its ``grpc_code``, else INTERNAL        its ``http_status``, else
                                                                                the HTTP status of its
                                                                                ``grpc_code``, else 500
======================================  ======================================  ==========================

A gRPC failure carries the ``google.rpc.Status`` (``otel_lite.otlp.responses.rpc_status``) in the
``grpc-status-details-bin`` trailer and, when throttled, the bare ``RetryInfo`` in
``google.rpc.retryinfo-bin`` too (the only place opentelemetry-python's exporter reads it).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import grpc
from google.protobuf import json_format

from otel_lite.otlp.responses import (
    GRPC_RETRYABLE_CODES,
    RETRY_INFO_TRAILER,
    STATUS_DETAILS_TRAILER,
    format_retry_after,
    grpc_code_name,
    rpc_status,
)

from ..consumer import PermanentError, ThrottledError

__all__ = [
    "grpc_status_for",
    "http_status_for",
    "retry_delay",
    "describe",
    "GRPCFailure",
    "grpc_failure",
    "abort_grpc",
    "HTTPFailure",
    "http_failure",
    "status_body",
]

_PROTOBUF = "application/x-protobuf"
_JSON = "application/json"

# the HTTP status of a gRPC code (Go's errors.GetHTTPStatus); any other code is 500
_GRPC_TO_HTTP = {
    **{grpc.StatusCode[name]: 503 for name in GRPC_RETRYABLE_CODES},  # retryable: 503, which HTTP retries
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNIMPLEMENTED: 404,
}


def _status_code(code) -> grpc.StatusCode | None:
    """``code`` (``grpc.StatusCode``, name or number) as a ``grpc.StatusCode``; None when absent or unknown."""
    if code is None or isinstance(code, grpc.StatusCode):
        return code
    return grpc.StatusCode.__members__.get(grpc_code_name(code))


def grpc_status_for(exc: BaseException) -> grpc.StatusCode:
    """The gRPC code a receiver answers a pipeline error with."""
    if isinstance(exc, ThrottledError):
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if isinstance(exc, PermanentError):
        return _status_code(exc.grpc_code) or grpc.StatusCode.INTERNAL
    return grpc.StatusCode.UNAVAILABLE  # retryable, or any plain error (as the Go receiver)


def http_status_for(exc: BaseException) -> int:
    """The HTTP status a receiver answers a pipeline error with."""
    if isinstance(exc, ThrottledError):
        return 429
    if isinstance(exc, PermanentError):
        if exc.http_status:
            return exc.http_status
        code = _status_code(exc.grpc_code)
        return _GRPC_TO_HTTP.get(code, 500) if code is not None else 500
    return 503


def retry_delay(exc: BaseException) -> float | None:
    """The delay (seconds) the sender is asked to wait before retrying, or None."""
    return exc.delay if isinstance(exc, ThrottledError) else None


def describe(exc: BaseException) -> str:
    """What the answer says about the error: its message, else its type's name."""
    return str(exc) or type(exc).__name__


# -- gRPC -------------------------------------------------------------------------------------------


class GRPCFailure(NamedTuple):
    """What ``context.abort`` takes: ``abort(*failure)``."""

    code: grpc.StatusCode
    message: str
    trailing_metadata: tuple = ()


def grpc_failure(exc: BaseException) -> GRPCFailure:
    """The gRPC answer to a pipeline error: code, message and the status-details trailers."""
    code, delay = grpc_status_for(exc), retry_delay(exc)
    status = rpc_status(code, describe(exc), delay)
    trailers: tuple[tuple[str, Any], ...] = ((STATUS_DETAILS_TRAILER, status.SerializeToString()),)
    if delay is not None:
        trailers += ((RETRY_INFO_TRAILER, status.details[0].value),)
    return GRPCFailure(code, status.message, trailers)


async def abort_grpc(context: grpc.aio.ServicerContext, exc: BaseException):
    """End the call with the answer to the pipeline error ``exc`` (raises, as ``context.abort`` does)."""
    await context.abort(*grpc_failure(exc))


# -- HTTP -------------------------------------------------------------------------------------------


class HTTPFailure(NamedTuple):
    status: int
    code: grpc.StatusCode  # for a google.rpc.Status body (OTLP/HTTP)
    message: str
    headers: dict | None  # Retry-After when throttled


def http_failure(exc: BaseException) -> HTTPFailure:
    """The HTTP answer to a pipeline error: status, gRPC code, message and headers."""
    delay = retry_delay(exc)
    headers = {"Retry-After": format_retry_after(delay)} if delay is not None else None
    return HTTPFailure(http_status_for(exc), grpc_status_for(exc), describe(exc), headers)


def status_body(code, message: str, as_json: bool) -> tuple[bytes, str]:
    """An OTLP/HTTP failure body: a ``google.rpc.Status`` in the request's encoding → (body, media type)."""
    status = rpc_status(code, message)
    if as_json:
        return json_format.MessageToJson(status, indent=None).encode(), _JSON
    return status.SerializeToString(), _PROTOBUF
