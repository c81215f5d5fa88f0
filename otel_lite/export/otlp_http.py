"""OTLP/HTTP span exporter (binary protobuf or OTLP JSON) over urllib3.

One ``urllib3.PoolManager`` keeps connections alive between exports and
carries the TLS settings (CA bundle, client certificate and key).  Requests
are retried by ``retry.retry_until_deadline`` (429/502/503/504 and connection
errors; ``Retry-After`` honoured), never by urllib3 itself.

Endpoint: the argument and ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` are used as
they are; ``OTEL_EXPORTER_OTLP_ENDPOINT`` gets ``/v1/traces`` appended (the
spec's rule); the default is ``http://localhost:4318/v1/traces``.  The other
settings follow ``_otlp_common`` (``*_TIMEOUT`` variables in milliseconds).
"""
from __future__ import annotations

import gzip
import logging
import os
import threading
import weakref
import zlib
from typing import Sequence
from urllib.parse import urlparse

import urllib3

from . import SpanExporter, SpanExportResult
from .otlp_encode import encode_spans, encode_spans_json
from ._otlp_common import (USER_AGENT, ExportStats, OTLPExporterBase, read_file, resolve_compression,
                           resolve_file, resolve_headers, resolve_timeout)
from .._log import RateLimitedLog
from ..config import _warn_once, env_str
from ..otlp.responses import (PartialSuccess, error_message, http_status_retryable, media_type,
                              parse_partial_success, parse_retry_after)
from .retry import DEFAULT_POLICY, Attempt, RetryPolicy

__all__ = ["OTLPSpanExporter"]

_log = logging.getLogger("otel_lite.export.otlp_http")

DEFAULT_ENDPOINT = "http://localhost:4318/v1/traces"
TRACES_PATH = "/v1/traces"
DEFAULT_MAX_REQUEST_SIZE = 64 * 1024 * 1024  # encoded, before compression
_MAX_RESPONSE_SIZE = 4 * 1024 * 1024  # an OTLP response is a few bytes; never buffer more than this
_CONTENT_TYPES = {"proto": "application/x-protobuf", "json": "application/json"}


def _valid_url(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def _resolve_endpoint(endpoint: str | None) -> str:
    if endpoint is not None:
        if not _valid_url(endpoint):
            raise ValueError(f"OTLP/HTTP endpoint must be an http:// or https:// URL, not {endpoint!r}")
        return endpoint
    traces = env_str("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if traces is not None:
        if _valid_url(traces):
            return traces
        _warn_once("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", traces, "an http:// or https:// URL")
    generic = env_str("OTEL_EXPORTER_OTLP_ENDPOINT")
    if generic is not None:
        if _valid_url(generic):
            return generic.rstrip("/") + TRACES_PATH
        _warn_once("OTEL_EXPORTER_OTLP_ENDPOINT", generic, "an http:// or https:// URL")
    return DEFAULT_ENDPOINT


def _gzip(body: bytes) -> bytes:
    return gzip.compress(body, compresslevel=6, mtime=0)


_COMPRESSORS = {"gzip": _gzip, "deflate": zlib.compress}


def _request_headers(user: dict, content_type: str, content_encoding: str | None) -> dict:
    """User headers plus ours: Content-Type and Content-Encoding describe the
    body we send, so they always win; a user's User-Agent replaces ours."""
    headers = {key: value for key, value in user.items()
               if key.lower() not in ("content-type", "content-encoding", "content-length")}
    if not any(key.lower() == "user-agent" for key in headers):
        headers["User-Agent"] = USER_AGENT
    headers["Content-Type"] = content_type
    if content_encoding:
        headers["Content-Encoding"] = content_encoding
    return headers


class OTLPSpanExporter(OTLPExporterBase, SpanExporter):
    """Exports spans over OTLP/HTTP.  ``encoding`` is ``"proto"`` (default) or
    ``"json"``; ``compression`` ``"gzip"``, ``"deflate"`` or ``"none"``;
    ``timeout`` in seconds covers the whole export, retries included
    (``timeout_millis`` from the batch processor can only shorten it).
    ``session`` is a ready ``urllib3.PoolManager`` or a ``requests.Session``
    (like the official exporter's) to use instead of our pool; ``insecure`` is accepted for
    symmetry with the gRPC exporter but the URL scheme decides TLS.  A batch
    whose encoding exceeds ``max_request_size`` is split in halves (a single
    span too large is dropped and counted).  ``export`` never raises."""

    _KIND, _NAME = "http", "OTLP HTTP exporter"

    def __init__(self, endpoint: str | None = None, headers=None, timeout: float | None = None, compression=None,
                 encoding: str = "proto", certificate_file: str | None = None, client_key_file: str | None = None,
                 client_certificate_file: str | None = None, insecure: bool | None = None, session=None, *,
                 retry_policy: RetryPolicy | None = None, max_request_size: int = DEFAULT_MAX_REQUEST_SIZE):
        if encoding not in _CONTENT_TYPES:
            raise ValueError(f"OTLP/HTTP encoding must be 'proto' or 'json', not {encoding!r}")
        self._endpoint = _resolve_endpoint(endpoint)
        self._encoding = encoding
        self._timeout = resolve_timeout(timeout)
        self._compression = resolve_compression(compression, ("gzip", "deflate", "none"))
        self._compress = _COMPRESSORS.get(self._compression)
        self._headers = _request_headers(resolve_headers(headers, "http"), _CONTENT_TYPES[encoding],
                                         self._compression if self._compress is not None else None)
        self._max_request_size = int(max_request_size)
        self._policy = retry_policy or DEFAULT_POLICY
        self._stats = ExportStats()
        self._warn = RateLimitedLog(_log)  # per exporter: each kind of failure at most once a minute
        self._stop = threading.Event()
        self._shutdown = False
        self._own_pool = session is None
        self._pool_settings = self._tls_settings(certificate_file, client_key_file, client_certificate_file)
        self._pool = session if session is not None else self._new_pool()
        self._connection_errors: tuple = (urllib3.exceptions.HTTPError,)
        self._post = self._post_urllib3
        if session is not None and hasattr(session, "mount"):  # a requests.Session
            import requests

            self._post = self._post_requests
            self._connection_errors += (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                                        requests.exceptions.ChunkedEncodingError)
        self._pid = os.getpid()
        if self._own_pool and hasattr(os, "register_at_fork"):
            ref = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _forget_pool(ref()))

    @staticmethod
    def _tls_settings(certificate_file, client_key_file, client_certificate_file) -> dict:
        settings = {}
        for argument, suffix, what, key in (
                (certificate_file, "CERTIFICATE", "certificate file", "ca_certs"),
                (client_key_file, "CLIENT_KEY", "client key file", "key_file"),
                (client_certificate_file, "CLIENT_CERTIFICATE", "client certificate file", "cert_file")):
            path = resolve_file(argument, suffix)
            # checked now so a wrong path is reported at start-up, not on the first export
            if path and read_file(path, what, argument is not None) is not None:
                settings[key] = path
        return settings

    def _new_pool(self) -> urllib3.PoolManager:
        # retries=False: retrying is ours (deadline, Retry-After, shutdown abort)
        return urllib3.PoolManager(num_pools=4, maxsize=4, retries=False, **self._pool_settings)

    # -- exporting --------------------------------------------------------------------------------------

    def export(self, spans: Sequence, timeout_millis: float | None = None) -> SpanExportResult:
        if self._refused_after_shutdown(spans):
            return SpanExportResult.FAILURE
        if not spans:
            return SpanExportResult.SUCCESS
        deadline = self._deadline(timeout_millis)
        if self._own_pool and self._pid != os.getpid():  # forked without at-fork hooks
            _forget_pool(self)
        return SpanExportResult.SUCCESS if self._export(spans, deadline) else SpanExportResult.FAILURE

    def _export(self, spans: Sequence, deadline: float) -> bool:
        try:
            body = self._encode(spans)
        except Exception:
            self._encode_failed(spans)
            return False
        if len(body) > self._max_request_size:
            if len(spans) > 1:  # split rather than lose the whole batch
                half = len(spans) // 2
                first = self._export(spans[:half], deadline)
                return self._export(spans[half:], deadline) and first
            self._warn("http_too_large", "OTLP HTTP exporter dropped a span whose encoding (%d bytes) exceeds "
                       "max_request_size (%d)", len(body), self._max_request_size)
            self._stats.record(failed=1)
            return False
        if self._compress is not None:
            body = self._compress(body)
        return self._send_with_retries(body, len(spans), deadline, lambda value: value)  # value: (rejected, msg)

    def _encode(self, spans) -> bytes:
        if self._encoding == "json":
            return encode_spans_json(spans)
        return encode_spans(spans)

    def _send(self, body: bytes, seconds_left: float) -> Attempt:
        try:
            status, reason, headers, data = self._post(body, seconds_left)
        except self._connection_errors as error:  # refused/reset, timeouts, TLS errors: worth another try
            return Attempt(False, retryable=True, reason=f"{type(error).__name__}: {error}",
                           kind=type(error).__name__)
        except Exception as error:  # e.g. a bad header value, or the pool cleared by shutdown() meanwhile
            return Attempt(False, reason=f"{type(error).__name__}: {error}", kind="client")
        content_type = media_type(headers.get("Content-Type"))
        if 200 <= status < 300:
            return Attempt(True, value=self._partial_success(content_type, data))
        retryable = http_status_retryable(status)
        delay = parse_retry_after(headers.get("Retry-After")) if retryable else None
        message = f"HTTP {status}: {error_message(data, content_type) or reason or '(no body)'}"
        if delay is not None:
            message += f" (server asked to retry in {delay:.3g}s)"
        return Attempt(False, retryable=retryable, server_delay=delay, reason=message, kind=f"status_{status}")

    def _post_urllib3(self, body: bytes, seconds_left: float):
        """POST with a urllib3 pool: (status, reason, headers, body of at most _MAX_RESPONSE_SIZE)."""
        response = self._pool.request("POST", self._endpoint, body=body, headers=self._headers,
                                      timeout=urllib3.Timeout(total=seconds_left), retries=False,
                                      redirect=False, preload_content=False)
        try:
            data = response.read(_MAX_RESPONSE_SIZE + 1)
            if len(data) > _MAX_RESPONSE_SIZE:
                response.close()  # do not read on (or reuse) a connection with an oversized body
                data = b""
        finally:
            response.release_conn()
        return response.status, response.reason, response.headers, data

    def _post_requests(self, body: bytes, seconds_left: float):
        """The same with a ``requests.Session`` (what the official exporter's ``session`` is)."""
        response = self._pool.post(self._endpoint, data=body, headers=self._headers, timeout=seconds_left,
                                   allow_redirects=False, stream=True)
        try:
            data = response.raw.read(_MAX_RESPONSE_SIZE + 1, decode_content=True)
        except BaseException:
            response.close()
            raise
        if len(data) > _MAX_RESPONSE_SIZE:
            response.close()  # drops the connection instead of reading on
            data = b""
        else:
            response.raw.release_conn()  # body fully read: the connection stays alive
        return response.status_code, response.reason, response.headers, data

    def _partial_success(self, content_type: str, data: bytes) -> PartialSuccess:
        """(rejected_spans, error_message) from an ExportTraceServiceResponse
        body; an empty or unparsable body means full success."""
        try:
            return parse_partial_success(data, content_type)
        except ValueError:
            _log.debug("unparsable OTLP response body from %s", self._endpoint, exc_info=True)
            return PartialSuccess()

    # -- lifecycle --------------------------------------------------------------------------------------

    def shutdown(self, timeout_millis: float | None = None) -> None:
        """Abort any retry wait and close the pooled connections."""
        if self._shutdown:
            return
        self._shutdown = True
        self._stop.set()
        if self._own_pool:
            try:
                self._pool.clear()
            except Exception:
                _log.debug("closing the HTTP connection pool failed", exc_info=True)

    @property
    def _where(self) -> str:
        return self._endpoint

    def __repr__(self) -> str:
        return f"OTLPSpanExporter(http/{self._encoding}, endpoint={self._endpoint!r})"


def _forget_pool(exporter: OTLPSpanExporter | None) -> None:
    """A forked child must not share the parent's keep-alive sockets: it gets
    a new pool (the old one is dropped without closing the shared sockets)."""
    if exporter is not None and exporter._own_pool:
        exporter._pool = exporter._new_pool()
        exporter._pid = os.getpid()
