"""The OTLP span exporter (``OTLPExporter``: the export loop) over a transport
(``OTLPTransport``: ``otlp_grpc.GrpcTransport``, ``otlp_http.HttpTransport``),
and what both transports share: settings from arguments and
``OTEL_EXPORTER_OTLP_[TRACES_]*``, the counters and partial-success handling.

Settings order: constructor argument, then ``OTEL_EXPORTER_OTLP_TRACES_*``,
then ``OTEL_EXPORTER_OTLP_*``, then the default.  ``timeout`` arguments are
seconds (like the official exporters' constructors) but the ``*_TIMEOUT``
variables are **milliseconds**, as the specification says (opentelemetry-python
reads them as seconds: its issue #4044).  A bad variable is logged once and
ignored; a bad argument raises ``ValueError``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Sequence
from typing import Protocol

from .._log import RateLimitedLog
from ..config import _warn_once, env_int, env_str, first_env_str, parse_key_values
from ..version import __version__
from . import SpanExporter, SpanExportResult
from .retry import DEFAULT_POLICY, Attempt, RetryPolicy, retry_until_deadline

USER_AGENT = f"OTel-OTLP-Exporter-Python-otel-lite/{__version__}"
DEFAULT_TIMEOUT_SECONDS = 10.0

_log = logging.getLogger("otel_lite.export.otlp")


def env_names(suffix: str) -> tuple[str, str]:
    return f"OTEL_EXPORTER_OTLP_TRACES_{suffix}", f"OTEL_EXPORTER_OTLP_{suffix}"


def first_env(suffix: str) -> str | None:
    return first_env_str(*env_names(suffix))


def resolve_timeout(timeout: float | None) -> float:
    """Seconds: the argument (seconds) or the environment (milliseconds)."""
    if timeout is not None:
        try:
            timeout = float(timeout)
        except (TypeError, ValueError):
            raise ValueError(f"timeout must be a number of seconds, not {timeout!r}") from None
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        return timeout
    for name in env_names("TIMEOUT"):
        millis = env_int(name, minimum=1)
        if millis is not None:
            return millis / 1000
    return DEFAULT_TIMEOUT_SECONDS


_HEADER_RULES = {
    # gRPC metadata: lowercase keys of [0-9a-z_.-]; "-bin" values are bytes, others printable ASCII
    "grpc": (re.compile(r"[0-9a-z_.\-]+"), re.compile(r"[\x20-\x7e]*")),
    # HTTP/1.1: keys are RFC 9110 tokens; values must not break the header block
    "http": (re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"), re.compile(r"[^\r\n\x00]*")),
}


def resolve_headers(headers, protocol: str) -> dict:
    """Headers from the argument (dict, sequence of pairs or a ``k=v,...``
    string) or from ``OTEL_EXPORTER_OTLP_[TRACES_]HEADERS`` (percent-decoded),
    checked for ``protocol`` ("grpc": keys lowercased; or "http").  A bad
    header in an argument raises ValueError; one from the environment is
    logged and left out (the application must still start)."""
    source = "headers"
    if headers is None:
        for name in env_names("HEADERS"):
            text = env_str(name)
            if text is not None:
                headers, source = parse_key_values(text, name), name
                break
        else:
            return {}
    elif isinstance(headers, str):
        headers = parse_key_values(headers, "headers")
    try:
        items = list(headers.items() if hasattr(headers, "items") else headers)
        items = [(str(key).strip(), value) for key, value in items]
    except (TypeError, ValueError):
        raise ValueError(f"headers must be a dict or a sequence of (key, value) pairs, not {headers!r}") from None
    key_rule, value_rule = _HEADER_RULES[protocol]
    result = {}
    for key, value in items:
        if protocol == "grpc":
            key = key.lower()
            if key.endswith("-bin") and isinstance(value, str):
                value = value.encode()
        if not isinstance(value, bytes):
            value = str(value)
        problem = None
        if not key_rule.fullmatch(key) or (protocol == "grpc" and key.startswith("grpc-")):
            problem = "invalid header name"
        elif isinstance(value, str) and not value_rule.fullmatch(value):
            problem = "invalid characters in the value"
        elif isinstance(value, bytes) and not (protocol == "grpc" and key.endswith("-bin")):
            problem = "a bytes value (only gRPC '-bin' headers take bytes)"
        if problem is None:
            result[key] = value
        elif source == "headers":
            raise ValueError(f"OTLP exporter header {key!r}: {problem}")
        else:
            _log.warning("ignoring OTLP exporter header %r from %s: %s", key, source, problem)
    return result


def resolve_compression(compression, allowed: tuple[str, ...]) -> str:
    """``"gzip"``, ``"deflate"`` (HTTP only) or ``"none"``; enum members (e.g.
    ``grpc.Compression.Gzip``, the official exporters' type) are accepted by name."""
    if compression is not None:
        name = getattr(compression, "name", compression)
        name = str(name).strip().lower()
        name = {"nocompression": "none", "": "none"}.get(name, name)
        if name not in allowed:
            raise ValueError(f"unsupported OTLP compression {compression!r} (supported: {', '.join(allowed)})")
        return name
    for env_name in env_names("COMPRESSION"):
        value = env_str(env_name)
        if value is None:
            continue
        if value.lower() in allowed:
            return value.lower()
        _warn_once(env_name, value, " or ".join(allowed))
    return "none"


def resolve_file(argument: str | None, suffix: str) -> str | None:
    return argument if argument is not None else first_env(suffix)


def read_file(path: str | None, what: str, from_argument: bool) -> bytes | None:
    """Read a PEM file.  A file named in code that cannot be read raises; one
    named in the environment is logged and skipped (the app must still start)."""
    if not path:
        return None
    try:
        with open(path, "rb") as handle:
            return handle.read(16 * 1024 * 1024)
    except OSError as exc:
        if from_argument:
            raise ValueError(f"cannot read the OTLP exporter's {what} {path!r}: {exc}") from exc
        _log.error("cannot read the OTLP exporter's %s %r (from the environment): %s", what, path, exc)
        return None


class ExportStats:
    """Counters for one exporter (read with ``stats()``); updates are locked
    because a SimpleSpanProcessor exports from many threads."""

    __slots__ = (
        "spans_exported",
        "spans_failed",
        "partial_success_rejected",
        "partial_success_responses",
        "requests",
        "retries",
        "_lock",
    )

    def __init__(self):
        self.spans_exported = 0
        self.spans_failed = 0
        self.partial_success_rejected = 0
        self.partial_success_responses = 0
        self.requests = 0
        self.retries = 0
        self._lock = threading.Lock()

    def record(
        self,
        exported: int = 0,
        failed: int = 0,
        rejected: int = 0,
        partial: bool = False,
        requests: int = 0,
        retries: int = 0,
    ) -> None:
        with self._lock:
            self.spans_exported += exported
            self.spans_failed += failed
            self.partial_success_rejected += rejected
            self.partial_success_responses += partial
            self.requests += requests
            self.retries += retries

    def as_dict(self) -> dict:
        with self._lock:
            return {
                "spans_exported": self.spans_exported,
                "spans_failed": self.spans_failed,
                "partial_success_rejected": self.partial_success_rejected,
                "partial_success_responses": self.partial_success_responses,
                "requests": self.requests,
                "retries": self.retries,
            }


def record_partial_success(
    stats: ExportStats, warn, exporter: str, endpoint: str, span_count: int, rejected: int, message: str
) -> None:
    """Count an accepted request; warn (rate-limited) when the server rejected
    part of it or sent a message (the spec's partial success: never retried)."""
    rejected = max(0, min(int(rejected or 0), span_count))
    partial = bool(rejected or message)
    stats.record(exported=span_count - rejected, failed=rejected, rejected=rejected, partial=partial)
    if partial:
        warn(
            "partial_success",
            "%s: %s accepted the request partially: %d of %d spans rejected: %s",
            exporter,
            endpoint,
            rejected,
            span_count,
            (message or "(no message)")[:512],
        )


class OTLPTransport(Protocol):
    """What the OTLP exporter needs of a transport (``otlp_grpc.GrpcTransport``,
    ``otlp_http.HttpTransport``): one request at a time, no retries, no accounting."""

    kind: str  # "grpc" or "http": log keys and the logger's name (otel_lite.export.otlp_<kind>)
    name: str  # for log lines: "OTLP gRPC exporter"

    @property
    def where(self) -> str:
        """The endpoint, for log lines."""

    max_request_size: int  # the default bound on an encoded request (the receivers' usual limit)

    def encode(self, spans: Sequence) -> bytes:
        """The request body before compression (what ``max_request_size`` bounds)."""

    def prepare(self, body: bytes) -> bytes:
        """The body as sent, once per request before any retry (HTTP compresses here)."""

    def send(self, body: bytes, seconds_left: float) -> Attempt:
        """One request; on success ``Attempt.value`` is the response's ``PartialSuccess``.
        Never raises.  Re-opens its connections first in a child forked without at-fork hooks."""

    def close(self) -> None:
        """Close the connections (a send in flight is cancelled; later sends fail)."""


class OTLPExporter(SpanExporter):
    """The OTLP span exporter: the export loop over a transport (``OTLPTransport``).

    Per ``export``: refuse after shutdown; turn ``timeout`` (seconds, the whole export,
    retries included; ``timeout_millis`` from the processor can only shorten it) into one
    deadline; encode; split a batch whose encoding exceeds ``max_request_size`` in halves (a
    single span too large is dropped and counted); send each request with
    ``retry.retry_until_deadline`` under ``retry_policy``; count the outcome (``stats()``),
    partial success included, and log failures (rate-limited).  ``export`` never raises.

    ``otlp_grpc.OTLPSpanExporter`` and ``otlp_http.OTLPSpanExporter`` are this class with their
    transport built from opentelemetry-sdk's constructor arguments for each protocol."""

    def __init__(
        self,
        transport: OTLPTransport,
        timeout: float | None = None,
        *,
        retry_policy: RetryPolicy | None = None,
        max_request_size: int | None = None,
    ):
        self.transport = transport
        self._timeout = resolve_timeout(timeout)
        self._policy = retry_policy or DEFAULT_POLICY
        self._max_request_size = int(max_request_size if max_request_size is not None else transport.max_request_size)
        if self._max_request_size <= 0:
            raise ValueError(f"max_request_size must be a positive number of bytes, not {max_request_size!r}")
        self._kind = transport.kind
        self._stats = ExportStats()
        # per exporter: each kind of failure at most once a minute
        self._warn = RateLimitedLog(logging.getLogger(f"otel_lite.export.otlp_{transport.kind}"))
        self._stop = threading.Event()
        self._shutdown = False

    def export(self, spans: Sequence, timeout_millis: float | None = None) -> SpanExportResult:
        if self._shutdown:
            self._warn(
                f"{self._kind}_after_shutdown",
                "%s already shut down: dropping %d spans",
                self.transport.name,
                len(spans),
            )
            self._stats.record(failed=len(spans))
            return SpanExportResult.FAILURE
        if not spans:
            return SpanExportResult.SUCCESS
        timeout = self._timeout
        if timeout_millis is not None:
            timeout = min(timeout, max(0.0, timeout_millis / 1000))
        ok = self._export(spans, time.monotonic() + timeout)
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def _export(self, spans: Sequence, deadline: float) -> bool:
        transport = self.transport
        try:
            body = transport.encode(spans)
        except Exception:
            self._warn(
                f"{self._kind}_encode", "%s could not encode %d spans", transport.name, len(spans), exc_info=True
            )
            self._stats.record(failed=len(spans))
            return False
        if len(body) > self._max_request_size:
            if len(spans) > 1:  # split rather than lose the whole batch to the receiver's size limit
                half = len(spans) // 2
                first = self._export(spans[:half], deadline)
                return self._export(spans[half:], deadline) and first
            self._warn(
                f"{self._kind}_too_large",
                "%s dropped a span whose encoding (%d bytes) exceeds max_request_size (%d)",
                transport.name,
                len(body),
                self._max_request_size,
            )
            self._stats.record(failed=1)
            return False
        try:
            body = transport.prepare(body)
        except Exception:
            self._warn(
                f"{self._kind}_encode",
                "%s could not prepare a request of %d spans",
                transport.name,
                len(spans),
                exc_info=True,
            )
            self._stats.record(failed=len(spans))
            return False
        return self._send_with_retries(body, len(spans), deadline)

    def _send_with_retries(self, body: bytes, span_count: int, deadline: float) -> bool:
        """Send ``body`` until success, a permanent error or the deadline, and count the outcome."""
        transport = self.transport
        attempt = retry_until_deadline(lambda left: transport.send(body, left), deadline, self._stop, self._policy)
        self._stats.record(requests=attempt.sends, retries=max(0, attempt.sends - 1))
        if attempt.ok:
            rejected, message = attempt.value if attempt.value is not None else (0, "")
            record_partial_success(
                self._stats, self._warn, transport.name, transport.where, span_count, rejected, message
            )
            return True
        self._stats.record(failed=span_count)
        self._warn(
            f"{self._kind}_{attempt.kind}",
            "%s failed to export %d spans to %s: %s",
            transport.name,
            span_count,
            transport.where,
            attempt.reason,
        )
        return False

    def shutdown(self, timeout_millis: float | None = None) -> None:
        """Abort any retry wait and close the transport (which cancels a request in flight)."""
        if self._shutdown:
            return
        self._shutdown = True
        self._stop.set()
        try:
            self.transport.close()
        except Exception:  # closing must never raise into the caller
            logging.getLogger(f"otel_lite.export.otlp_{self._kind}").debug(
                "closing the %s transport failed", self._kind, exc_info=True
            )

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def stats(self) -> dict:
        """spans_exported, spans_failed (rejected spans included), partial_success_rejected,
        partial_success_responses, requests, retries."""
        return self._stats.as_dict()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.transport!r})"  # e.g. OTLPSpanExporter(GrpcTransport(endpoint=...))
