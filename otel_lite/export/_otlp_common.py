"""What the OTLP gRPC and HTTP span exporters share: settings from arguments
and ``OTEL_EXPORTER_OTLP_[TRACES_]*``, the counters and partial-success
handling.

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

from ..config import _warn_once, env_int, env_str, first_env_str, parse_key_values
from ..version import __version__
from .retry import retry_until_deadline

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

    __slots__ = ("spans_exported", "spans_failed", "partial_success_rejected", "partial_success_responses",
                 "requests", "retries", "_lock")

    def __init__(self):
        self.spans_exported = 0
        self.spans_failed = 0
        self.partial_success_rejected = 0
        self.partial_success_responses = 0
        self.requests = 0
        self.retries = 0
        self._lock = threading.Lock()

    def record(self, exported: int = 0, failed: int = 0, rejected: int = 0, partial: bool = False,
               requests: int = 0, retries: int = 0) -> None:
        with self._lock:
            self.spans_exported += exported
            self.spans_failed += failed
            self.partial_success_rejected += rejected
            self.partial_success_responses += partial
            self.requests += requests
            self.retries += retries

    def as_dict(self) -> dict:
        with self._lock:
            return {"spans_exported": self.spans_exported, "spans_failed": self.spans_failed,
                    "partial_success_rejected": self.partial_success_rejected,
                    "partial_success_responses": self.partial_success_responses,
                    "requests": self.requests, "retries": self.retries}


def record_partial_success(stats: ExportStats, warn, exporter: str, endpoint: str, span_count: int,
                           rejected: int, message: str) -> None:
    """Count an accepted request; warn (rate-limited) when the server rejected
    part of it or sent a message (the spec's partial success: never retried)."""
    rejected = max(0, min(int(rejected or 0), span_count))
    partial = bool(rejected or message)
    stats.record(exported=span_count - rejected, failed=rejected, rejected=rejected, partial=partial)
    if partial:
        warn("partial_success", "%s: %s accepted the request partially: %d of %d spans rejected: %s",
             exporter, endpoint, rejected, span_count, (message or "(no message)")[:512])


class OTLPExporterBase:
    """What both OTLP exporters do around their transport: refuse after shutdown, turn the
    export timeout into a deadline, send with retries and account for the outcome.

    A subclass sets ``_stats``, ``_warn``, ``_timeout``, ``_stop``, ``_policy``, ``_shutdown``,
    ``_KIND`` ("grpc"/"http"), ``_NAME`` and ``_where`` (endpoint for logs), and implements
    ``_send(body, seconds_left) -> Attempt``."""

    def _refused_after_shutdown(self, spans) -> bool:
        if self._shutdown:
            self._warn(f"{self._KIND}_after_shutdown", "%s already shut down: dropping %d spans", self._NAME,
                       len(spans))
            self._stats.record(failed=len(spans))
        return self._shutdown

    def _deadline(self, timeout_millis: float | None) -> float:
        timeout = self._timeout
        if timeout_millis is not None:
            timeout = min(timeout, max(0.0, timeout_millis / 1000))
        return time.monotonic() + timeout

    def _encode_failed(self, spans) -> None:
        self._warn(f"{self._KIND}_encode", "%s could not encode %d spans", self._NAME, len(spans), exc_info=True)
        self._stats.record(failed=len(spans))

    def _send_with_retries(self, body: bytes, span_count: int, deadline: float, partial_success) -> bool:
        """Send ``body`` until success, a permanent error or the deadline; ``partial_success(value)``
        gives (rejected spans, message) of a successful response."""
        attempt = retry_until_deadline(lambda left: self._send(body, left), deadline, self._stop, self._policy)
        self._stats.record(requests=attempt.sends, retries=max(0, attempt.sends - 1))
        if attempt.ok:
            rejected, message = partial_success(attempt.value)
            record_partial_success(self._stats, self._warn, self._NAME, self._where, span_count, rejected, message)
            return True
        self._stats.record(failed=span_count)
        self._warn(f"{self._KIND}_{attempt.kind}", "%s failed to export %d spans to %s: %s", self._NAME, span_count,
                   self._where, attempt.reason)
        return False

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def stats(self) -> dict:
        """spans_exported, spans_failed (rejected spans included), partial_success_rejected,
        partial_success_responses, requests, retries."""
        return self._stats.as_dict()
