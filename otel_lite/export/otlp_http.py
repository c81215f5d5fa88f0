"""OTLP/HTTP span exporter (binary protobuf or OTLP JSON):
``_otlp_common.OTLPExporter`` (the export loop: batch splitting, deadline,
retries, accounting) over ``HttpTransport`` (urllib3).

One ``urllib3.PoolManager`` keeps connections alive between exports and
carries the TLS settings (CA bundle, client certificate and key).  Requests
are retried by the exporter with ``retry.retry_until_deadline`` (429/502/503/504
and connection errors; ``Retry-After`` honoured), never by urllib3 itself.

Endpoint: the argument and ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` are used as
they are; ``OTEL_EXPORTER_OTLP_ENDPOINT`` gets ``/v1/traces`` appended (the
spec's rule); the default is ``http://localhost:4318/v1/traces``.  The other
settings follow ``_otlp_common`` (``*_TIMEOUT`` variables in milliseconds).
"""

from __future__ import annotations

import gzip
import logging
import os
import weakref
import zlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import urllib3

from ..config import _warn_once, env_str
from ..otlp.responses import (
    PartialSuccess,
    error_message,
    http_status_retryable,
    media_type,
    parse_partial_success,
    parse_retry_after,
)
from ._otlp_common import USER_AGENT, OTLPExporter, read_file, resolve_compression, resolve_file, resolve_headers
from .otlp_encode import encode_spans, encode_spans_json
from .retry import Attempt, RetryPolicy

__all__ = ["OTLPSpanExporter", "HttpTransport"]

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


_COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {"gzip": _gzip, "deflate": zlib.compress}


def _request_headers(user: dict, content_type: str, content_encoding: str | None) -> dict:
    """User headers plus ours: Content-Type and Content-Encoding describe the
    body we send, so they always win; a user's User-Agent replaces ours."""
    headers = {
        key: value
        for key, value in user.items()
        if key.lower() not in ("content-type", "content-encoding", "content-length")
    }
    if not any(key.lower() == "user-agent" for key in headers):
        headers["User-Agent"] = USER_AGENT
    headers["Content-Type"] = content_type
    if content_encoding:
        headers["Content-Encoding"] = content_encoding
    return headers


class HttpTransport:
    """OTLP/HTTP requests over one urllib3 pool or a given session (an ``OTLPTransport``).
    Arguments as ``OTLPSpanExporter``'s; the resolved settings are attributes (``endpoint``,
    ``encoding``, ``compression``, ``headers``: the request headers, ours included)."""

    kind, name = "http", "OTLP HTTP exporter"
    max_request_size = DEFAULT_MAX_REQUEST_SIZE

    def __init__(
        self,
        endpoint: str | None = None,
        headers=None,
        compression=None,
        encoding: str = "proto",
        certificate_file: str | None = None,
        client_key_file: str | None = None,
        client_certificate_file: str | None = None,
        session=None,
    ):
        if encoding not in _CONTENT_TYPES:
            raise ValueError(f"OTLP/HTTP encoding must be 'proto' or 'json', not {encoding!r}")
        self.endpoint = _resolve_endpoint(endpoint)
        self.encoding = encoding
        self.encode = encode_spans_json if encoding == "json" else encode_spans
        self.compression = resolve_compression(compression, ("gzip", "deflate", "none"))
        self._compress = _COMPRESSORS.get(self.compression)
        self.headers = _request_headers(
            resolve_headers(headers, "http"),
            _CONTENT_TYPES[encoding],
            self.compression if self._compress is not None else None,
        )
        self._own_pool = session is None
        self._pool_settings = self._tls_settings(certificate_file, client_key_file, client_certificate_file)
        # our urllib3 pool, or the caller's session (a requests.Session: _post_requests)
        self._pool: Any = session if session is not None else self._new_pool()
        self._connection_errors: tuple = (urllib3.exceptions.HTTPError,)
        self._post = self._post_urllib3
        if session is not None and hasattr(session, "mount"):  # a requests.Session
            import requests

            self._post = self._post_requests
            self._connection_errors += (
                requests.exceptions.ConnectionError,
                requests.exceptions.Timeout,
                requests.exceptions.ChunkedEncodingError,
            )
        self._pid = os.getpid()
        if self._own_pool and hasattr(os, "register_at_fork"):
            ref = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _forget_pool(ref()))

    @property
    def where(self) -> str:
        return self.endpoint

    @staticmethod
    def _tls_settings(certificate_file, client_key_file, client_certificate_file) -> dict:
        settings = {}
        for argument, suffix, what, key in (
            (certificate_file, "CERTIFICATE", "certificate file", "ca_certs"),
            (client_key_file, "CLIENT_KEY", "client key file", "key_file"),
            (client_certificate_file, "CLIENT_CERTIFICATE", "client certificate file", "cert_file"),
        ):
            path = resolve_file(argument, suffix)
            # checked now so a wrong path is reported at start-up, not on the first export
            if path and read_file(path, what, argument is not None) is not None:
                settings[key] = path
        return settings

    def _new_pool(self) -> urllib3.PoolManager:
        # retries=False: retrying is the exporter's (deadline, Retry-After, shutdown abort)
        return urllib3.PoolManager(num_pools=4, maxsize=4, retries=False, **self._pool_settings)

    def prepare(self, body: bytes) -> bytes:
        return self._compress(body) if self._compress is not None else body

    def send(self, body: bytes, seconds_left: float) -> Attempt:
        if self._own_pool and self._pid != os.getpid():  # forked without at-fork hooks
            _forget_pool(self)
        try:
            status, reason, headers, data = self._post(body, seconds_left)
        except self._connection_errors as error:  # refused/reset, timeouts, TLS errors: worth another try
            return Attempt(False, retryable=True, reason=f"{type(error).__name__}: {error}", kind=type(error).__name__)
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
        response = self._pool.request(
            "POST",
            self.endpoint,
            body=body,
            headers=self.headers,
            timeout=urllib3.Timeout(total=seconds_left),
            retries=False,
            redirect=False,
            preload_content=False,
        )
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
        response = self._pool.post(
            self.endpoint, data=body, headers=self.headers, timeout=seconds_left, allow_redirects=False, stream=True
        )
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
            _log.debug("unparsable OTLP response body from %s", self.endpoint, exc_info=True)
            return PartialSuccess()

    def close(self) -> None:
        """Close the pooled connections (a given session is the caller's to close)."""
        if self._own_pool:
            self._pool.clear()

    def __repr__(self) -> str:
        return f"HttpTransport({self.encoding}, endpoint={self.endpoint!r})"


class OTLPSpanExporter(OTLPExporter):
    """Exports spans over OTLP/HTTP, with opentelemetry-sdk's constructor arguments
    (``OTLPExporter`` over an ``HttpTransport``).  ``encoding`` is ``"proto"``
    (default) or ``"json"``; ``compression`` ``"gzip"``, ``"deflate"`` or ``"none"``;
    ``timeout`` in seconds covers the whole export, retries included
    (``timeout_millis`` from the batch processor can only shorten it).
    ``session`` is a ready ``urllib3.PoolManager`` or a ``requests.Session``
    (like the official exporter's) to use instead of our pool; ``insecure`` is accepted for
    symmetry with the gRPC exporter but the URL scheme decides TLS.  A batch
    whose encoding exceeds ``max_request_size`` (default 64 MiB) is split in halves (a single
    span too large is dropped and counted).  ``export`` never raises."""

    def __init__(
        self,
        endpoint: str | None = None,
        headers=None,
        timeout: float | None = None,
        compression=None,
        encoding: str = "proto",
        certificate_file: str | None = None,
        client_key_file: str | None = None,
        client_certificate_file: str | None = None,
        insecure: bool | None = None,
        session=None,
        *,
        retry_policy: RetryPolicy | None = None,
        max_request_size: int = DEFAULT_MAX_REQUEST_SIZE,
    ):
        transport = HttpTransport(
            endpoint,
            headers,
            compression,
            encoding,
            certificate_file,
            client_key_file,
            client_certificate_file,
            session,
        )
        super().__init__(transport, timeout, retry_policy=retry_policy, max_request_size=max_request_size)


def _forget_pool(transport: HttpTransport | None) -> None:
    """A forked child must not share the parent's keep-alive sockets: it gets
    a new pool (the old one is dropped without closing the shared sockets)."""
    if transport is not None and transport._own_pool:
        transport._pool = transport._new_pool()
        transport._pid = os.getpid()
