"""The retry policy shared by the OTLP exporters (gRPC and HTTP).

Rules (OTLP specification, ``protocol/exporter.md`` and the OTLP wire spec):

* which gRPC codes and HTTP statuses are retryable, and the delay a server
  asks for (HTTP ``Retry-After``, gRPC ``RetryInfo``), are the protocol's
  rules: ``otel_lite.otlp.responses``, shared with the collector; connection
  errors are retried too;
* a delay sent by the server replaces our own backoff;
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

import random
import threading
import time
from collections.abc import Callable

# the protocol's rules, shared with the collector (re-exported here, where they used to live)
from ..otlp.responses import grpc_code_retryable, grpc_retry_delay, http_status_retryable, parse_retry_after

__all__ = [
    "RetryPolicy",
    "Attempt",
    "DEFAULT_POLICY",
    "retry_until_deadline",
    "parse_retry_after",
    "grpc_retry_delay",
    "grpc_code_retryable",
    "http_status_retryable",
]


class RetryPolicy:
    """Exponential backoff with multiplicative jitter: wait ``n`` (0-based) is
    ``min(initial * multiplier**n, max_backoff) * U(1 - jitter, 1 + jitter)``,
    never more than ``max_backoff``.  ``max_attempts`` only matters when a
    server keeps asking for tiny delays (``Retry-After: 0``): the deadline
    ends our own backoff long before."""

    __slots__ = ("initial_backoff", "multiplier", "max_backoff", "jitter", "max_attempts")

    def __init__(
        self,
        initial_backoff: float = 1.0,
        multiplier: float = 2.0,
        max_backoff: float = 32.0,
        jitter: float = 0.2,
        max_attempts: int = 16,
    ):
        if initial_backoff < 0 or max_backoff < 0 or multiplier < 1 or not 0 <= jitter < 1 or max_attempts < 1:
            raise ValueError(
                "RetryPolicy needs initial_backoff >= 0, max_backoff >= 0, multiplier >= 1, "
                "0 <= jitter < 1 and max_attempts >= 1"
            )
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
        return (
            f"RetryPolicy(initial_backoff={self.initial_backoff}, multiplier={self.multiplier}, "
            f"max_backoff={self.max_backoff}, jitter={self.jitter}, max_attempts={self.max_attempts})"
        )


DEFAULT_POLICY = RetryPolicy()


class Attempt:
    """The outcome of one send: ``ok``; if not, whether it may be ``retryable``,
    the ``server_delay`` (seconds) the peer asked for, and a short ``reason``
    for the log.  ``value`` carries the transport's response on success."""

    __slots__ = ("ok", "retryable", "server_delay", "reason", "kind", "value", "sends")

    def __init__(
        self,
        ok: bool,
        retryable: bool = False,
        server_delay: float | None = None,
        reason: str = "",
        kind: str = "",
        value=None,
    ):
        self.ok = ok
        self.retryable = retryable
        self.server_delay = server_delay
        self.reason = reason
        self.kind = kind or ("ok" if ok else "error")  # groups log lines for rate limiting
        self.value = value
        self.sends = 0  # requests made in the whole export, set by retry_until_deadline

    def __repr__(self) -> str:
        return f"Attempt(ok={self.ok}, retryable={self.retryable}, reason={self.reason!r})"


def retry_until_deadline(
    send: Callable[[float], Attempt], deadline: float, stop: threading.Event, policy: RetryPolicy = DEFAULT_POLICY
) -> Attempt:
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
