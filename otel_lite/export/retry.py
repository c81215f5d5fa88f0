"""The retry policy shared by the OTLP exporters (gRPC and HTTP).

Rules (OTLP specification, ``protocol/exporter.md`` and the OTLP wire spec):

* retryable gRPC codes: CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE,
  UNAVAILABLE, DATA_LOSS, and RESOURCE_EXHAUSTED only when the server sent a
  ``google.rpc.RetryInfo``; every other code is final;
* retryable HTTP statuses: 429, 502, 503, 504, and connection errors; every
  other status is final;
* a delay sent by the server (HTTP ``Retry-After`` in seconds or as an
  HTTP-date, gRPC ``RetryInfo.retry_delay``) replaces our own backoff;
* otherwise exponential backoff with jitter: 1 s, 2 s, 4 s ... capped at 32 s,
  each multiplied by a random factor in [0.8, 1.2];
* everything happens within one export deadline: an attempt never gets more
  than the time left, and we give up instead of waiting if the next wait
  would end past the deadline;
* ``shutdown`` aborts a wait at once (``threading.Event.wait``, not ``sleep``);
* at most 16 attempts (only reachable when a server keeps sending tiny delays).

Why not urllib3's ``Retry`` or tenacity: urllib3's ``Retry`` sleeps with
``time.sleep`` (no shutdown abort), has no overall deadline and knows nothing
of gRPC; tenacity would need custom wait, stop, retry and sleep callables for
exactly the rules above (server delay, deadline look-ahead, event abort,
RetryInfo) and one more dependency; the loop below is that logic and nothing
more.
"""
from __future__ import annotations

import email.utils
import random
import threading
import time
from typing import Callable

__all__ = [
    "RetryPolicy", "Attempt", "DEFAULT_POLICY", "retry_until_deadline", "parse_retry_after",
    "grpc_retry_delay", "grpc_code_retryable", "http_status_retryable",
]

# gRPC status code names (grpc.StatusCode member names) that are worth another try
_GRPC_RETRYABLE = frozenset(("CANCELLED", "DEADLINE_EXCEEDED", "ABORTED", "OUT_OF_RANGE", "UNAVAILABLE", "DATA_LOSS"))
_HTTP_RETRYABLE = frozenset((429, 502, 503, 504))
_RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"
_MAX_TRAILER_BYTES = 64 * 1024  # a status-details trailer larger than this is not parsed


class RetryPolicy:
    """Exponential backoff with multiplicative jitter: wait ``n`` (0-based) is
    ``min(initial * multiplier**n, max_backoff) * U(1 - jitter, 1 + jitter)``,
    never more than ``max_backoff``.  ``max_attempts`` only matters when a
    server keeps asking for tiny delays (``Retry-After: 0``): the deadline
    ends our own backoff long before."""

    __slots__ = ("initial_backoff", "multiplier", "max_backoff", "jitter", "max_attempts")

    def __init__(self, initial_backoff: float = 1.0, multiplier: float = 2.0, max_backoff: float = 32.0,
                 jitter: float = 0.2, max_attempts: int = 16):
        if initial_backoff < 0 or max_backoff < 0 or multiplier < 1 or not 0 <= jitter < 1 or max_attempts < 1:
            raise ValueError("RetryPolicy needs initial_backoff >= 0, max_backoff >= 0, multiplier >= 1, "
                             "0 <= jitter < 1 and max_attempts >= 1")
        self.initial_backoff = initial_backoff
        self.multiplier = multiplier
        self.max_backoff = max_backoff
        self.jitter = jitter
        self.max_attempts = max_attempts

    def backoff(self, retry_number: int) -> float:
        base = min(self.initial_backoff * self.multiplier ** min(retry_number, 64), self.max_backoff)
        if self.jitter:
            base *= random.uniform(1.0 - self.jitter, 1.0 + self.jitter)
        return min(base, self.max_backoff)

    def __repr__(self) -> str:
        return (f"RetryPolicy(initial_backoff={self.initial_backoff}, multiplier={self.multiplier}, "
                f"max_backoff={self.max_backoff}, jitter={self.jitter}, max_attempts={self.max_attempts})")


DEFAULT_POLICY = RetryPolicy()


class Attempt:
    """The outcome of one send: ``ok``; if not, whether it may be ``retryable``,
    the ``server_delay`` (seconds) the peer asked for, and a short ``reason``
    for the log.  ``value`` carries the transport's response on success."""

    __slots__ = ("ok", "retryable", "server_delay", "reason", "kind", "value", "sends")

    def __init__(self, ok: bool, retryable: bool = False, server_delay: float | None = None, reason: str = "",
                 kind: str = "", value=None):
        self.ok = ok
        self.retryable = retryable
        self.server_delay = server_delay
        self.reason = reason
        self.kind = kind or ("ok" if ok else "error")  # groups log lines for rate limiting
        self.value = value
        self.sends = 0  # requests made in the whole export, set by retry_until_deadline

    def __repr__(self) -> str:
        return f"Attempt(ok={self.ok}, retryable={self.retryable}, reason={self.reason!r})"


def retry_until_deadline(send: Callable[[float], Attempt], deadline: float, stop: threading.Event,
                         policy: RetryPolicy = DEFAULT_POLICY) -> Attempt:
    """Call ``send(seconds_left)`` until it succeeds, fails for good, the next
    wait would pass ``deadline`` (a ``time.monotonic()`` value), ``stop`` is
    set or ``policy.max_attempts`` were made.  Returns the last attempt; ``reason`` says why retrying ended."""
    retry_number = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            attempt = Attempt(False, reason="export deadline passed before the request was sent", kind="deadline")
            attempt.sends = retry_number
            return attempt
        attempt = send(left)
        attempt.sends = retry_number + 1
        if attempt.ok or not attempt.retryable:
            return attempt
        if retry_number + 1 >= policy.max_attempts:
            attempt.reason += f" (giving up after {policy.max_attempts} attempts)"
            return attempt
        delay = attempt.server_delay
        if delay is None:
            delay = policy.backoff(retry_number)
        delay = max(0.0, delay)
        if time.monotonic() + delay >= deadline:
            attempt.reason += f" (giving up: a retry in {delay:.3g}s would pass the export deadline)"
            return attempt
        if stop.wait(delay):
            attempt.reason += " (retry aborted: exporter shut down)"
            return attempt
        retry_number += 1


# -- server-provided delays --------------------------------------------------------------------------


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from an HTTP ``Retry-After`` value (delay-seconds or an
    HTTP-date); None when absent or unparsable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 and seconds == seconds and seconds != float("inf") else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def grpc_retry_delay(trailing_metadata) -> float | None:
    """The ``google.rpc.RetryInfo`` delay in seconds carried by a failed call's
    trailers (in ``grpc-status-details-bin``, the standard place, or in the
    ``google.rpc.retryinfo-bin`` trailer some servers send); None if absent."""
    if not trailing_metadata:
        return None
    details = retry_info = None
    for key, value in trailing_metadata:
        if key == "grpc-status-details-bin":
            details = value
        elif key == "google.rpc.retryinfo-bin":
            retry_info = value
    from google.rpc import error_details_pb2, status_pb2

    try:
        if isinstance(details, bytes) and len(details) <= _MAX_TRAILER_BYTES:
            status = status_pb2.Status.FromString(details)
            for any_detail in status.details:
                if any_detail.type_url == _RETRY_INFO_TYPE:
                    info = error_details_pb2.RetryInfo.FromString(any_detail.value)
                    return _duration_seconds(info.retry_delay)
        if isinstance(retry_info, bytes) and len(retry_info) <= _MAX_TRAILER_BYTES:
            info = error_details_pb2.RetryInfo.FromString(retry_info)
            return _duration_seconds(info.retry_delay)
    except Exception:  # a malformed trailer is the server's bug: fall back to our own backoff
        return None
    return None


def _duration_seconds(duration) -> float:
    return max(0.0, duration.seconds + duration.nanos / 1e9)


def grpc_code_retryable(code, has_retry_info: bool) -> bool:
    """``code`` is a ``grpc.StatusCode`` (or anything with its ``name``)."""
    name = getattr(code, "name", code)
    if name == "RESOURCE_EXHAUSTED":
        return has_retry_info
    return name in _GRPC_RETRYABLE


def http_status_retryable(status: int) -> bool:
    return status in _HTTP_RETRYABLE
