"""OTLP/gRPC span exporter.

A synchronous ``grpc`` channel (the exporter runs on the batch processor's
worker thread) and one generic unary call on
``/opentelemetry.proto.collector.trace.v1.TraceService/Export`` that sends
the bytes of ``otlp_encode.encode_spans`` as they are (no message objects).

Settings: arguments, then ``OTEL_EXPORTER_OTLP_TRACES_*``, then
``OTEL_EXPORTER_OTLP_*`` (ENDPOINT, HEADERS, COMPRESSION, TIMEOUT in
**milliseconds** as the spec says, INSECURE, CERTIFICATE, CLIENT_KEY,
CLIENT_CERTIFICATE; the obsolete ``OTEL_EXPORTER_OTLP_SPAN_INSECURE`` too).
TLS follows the official exporter: ``https://`` is always secure; otherwise
``insecure`` (argument, then the variables) decides, and when nothing says,
``http://`` means plaintext and a bare ``host:port`` means TLS.
"""
from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import Sequence
from urllib.parse import urlparse

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from . import SpanExporter, SpanExportResult
from .otlp_encode import encode_spans
from ._otlp_common import (USER_AGENT, ExportStats, OTLPExporterBase, env_names, first_env, read_file,
                           resolve_compression, resolve_file, resolve_headers, resolve_timeout)
from .._log import RateLimitedLog
from ..config import env_bool
from ..otlp.responses import grpc_code_retryable, grpc_retry_delay, partial_success
from .retry import DEFAULT_POLICY, Attempt, RetryPolicy

__all__ = ["OTLPSpanExporter"]

_log = logging.getLogger("otel_lite.export.otlp_grpc")

_EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
DEFAULT_ENDPOINT = "http://localhost:4317"
_GRPC_COMPRESSION = {"gzip": grpc.Compression.Gzip, "none": grpc.Compression.NoCompression}
# gRPC's own reconnect backoff grows to 120 s by default: after a long collector
# outage exports would keep failing fast for up to two minutes once it is back.
_CHANNEL_OPTIONS = (
    ("grpc.primary_user_agent", USER_AGENT),
    ("grpc.max_reconnect_backoff_ms", 5000),
    ("grpc.max_receive_message_length", 4 * 1024 * 1024),  # responses are tiny
)


def _resolve_insecure(insecure: bool | None, scheme: str) -> bool:
    if scheme == "https":
        return False
    if insecure is None:
        for name in env_names("INSECURE") + ("OTEL_EXPORTER_OTLP_SPAN_INSECURE",):
            insecure = env_bool(name)
            if insecure is not None:
                break
    if insecure is None:
        insecure = scheme == "http"
    return bool(insecure)


class OTLPSpanExporter(OTLPExporterBase, SpanExporter):
    """Exports spans over OTLP/gRPC.  ``timeout`` is in seconds (the whole
    export, retries included; ``timeout_millis`` from the batch processor can
    only shorten it).  ``credentials`` (``grpc.ChannelCredentials``) replaces
    the certificate files.  ``retry_policy`` tunes the backoff
    (``otel_lite.export.retry.RetryPolicy``).  ``export`` never raises: a
    failure is logged (rate-limited) and returned as FAILURE; ``stats()``
    gives the counters."""

    _KIND, _NAME = "grpc", "OTLP gRPC exporter"

    def __init__(self, endpoint: str | None = None, insecure: bool | None = None, headers=None,
                 timeout: float | None = None, compression=None, certificate_file: str | None = None,
                 client_key_file: str | None = None, client_certificate_file: str | None = None,
                 credentials: grpc.ChannelCredentials | None = None, *, channel_options: Sequence | None = None,
                 retry_policy: RetryPolicy | None = None):
        endpoint = endpoint or first_env("ENDPOINT") or DEFAULT_ENDPOINT
        parsed = urlparse(endpoint)
        # http(s)://host:port -> host:port; anything else (host:port, dns:///..., unix:...) is a gRPC target
        self._target = parsed.netloc if parsed.scheme in ("http", "https") and parsed.netloc else endpoint
        self._endpoint = endpoint
        self._insecure = _resolve_insecure(insecure, parsed.scheme)
        self._credentials = None
        if not self._insecure:
            self._credentials = credentials or self._tls_credentials(certificate_file, client_key_file,
                                                                     client_certificate_file)
        self._metadata = tuple(resolve_headers(headers, "grpc").items())
        self._timeout = resolve_timeout(timeout)
        self._compression = _GRPC_COMPRESSION[resolve_compression(compression, ("gzip", "none"))]
        options = dict(_CHANNEL_OPTIONS)
        options.update(channel_options or ())
        self._channel_options = tuple(options.items())
        self._policy = retry_policy or DEFAULT_POLICY
        self._stats = ExportStats()
        self._warn = RateLimitedLog(_log)  # per exporter: each kind of failure at most once a minute
        self._stop = threading.Event()
        self._shutdown = False
        self._lock = threading.Lock()
        self._channel = None
        self._call = None
        self._pid = os.getpid()
        self._open_channel()
        if hasattr(os, "register_at_fork"):
            ref = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _forget_channel(ref()))

    @staticmethod
    def _tls_credentials(certificate_file, client_key_file, client_certificate_file) -> grpc.ChannelCredentials:
        files = []
        for argument, suffix, what in ((certificate_file, "CERTIFICATE", "certificate file"),
                                       (client_key_file, "CLIENT_KEY", "client key file"),
                                       (client_certificate_file, "CLIENT_CERTIFICATE", "client certificate file")):
            files.append(read_file(resolve_file(argument, suffix), what, argument is not None))
        root, key, chain = files
        return grpc.ssl_channel_credentials(root_certificates=root, private_key=key, certificate_chain=chain)

    def _open_channel(self) -> None:
        if self._insecure:
            channel = grpc.insecure_channel(self._target, options=self._channel_options,
                                            compression=self._compression)
        else:
            channel = grpc.secure_channel(self._target, self._credentials, options=self._channel_options,
                                          compression=self._compression)
        self._channel = channel
        self._call = channel.unary_unary(_EXPORT_METHOD, request_serializer=None,
                                         response_deserializer=ExportTraceServiceResponse.FromString)
        self._pid = os.getpid()

    # -- exporting --------------------------------------------------------------------------------------

    def export(self, spans: Sequence, timeout_millis: float | None = None) -> SpanExportResult:
        if self._refused_after_shutdown(spans):
            return SpanExportResult.FAILURE
        if not spans:
            return SpanExportResult.SUCCESS
        deadline = self._deadline(timeout_millis)
        try:
            body = encode_spans(spans)
        except Exception:
            self._encode_failed(spans)
            return SpanExportResult.FAILURE
        if self._pid != os.getpid():  # forked without at-fork hooks
            with self._lock:
                if self._pid != os.getpid():
                    self._open_channel()
        ok = self._send_with_retries(body, len(spans), deadline, partial_success)
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def _send(self, body: bytes, seconds_left: float) -> Attempt:
        call = self._call
        if call is None:
            return Attempt(False, reason="channel closed", kind="closed")
        try:
            response = call(body, timeout=seconds_left, metadata=self._metadata)
        except grpc.RpcError as error:
            return self._failed_attempt(error)
        except ValueError as error:  # the channel was closed by shutdown() while sending
            return Attempt(False, reason=str(error), kind="closed")
        except Exception as error:  # never raise into the batch processor
            return Attempt(False, reason=f"{type(error).__name__}: {error}", kind="client")
        return Attempt(True, value=response)

    @staticmethod
    def _failed_attempt(error) -> Attempt:
        code = error.code() if hasattr(error, "code") else None
        try:
            trailers = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
        except Exception:
            trailers = None
        delay = grpc_retry_delay(trailers)
        name = getattr(code, "name", str(code))
        details = error.details() if hasattr(error, "details") else str(error)
        reason = f"{name}: {details}" + (f" (server asked to retry in {delay:.3g}s)" if delay is not None else "")
        return Attempt(False, retryable=grpc_code_retryable(code, delay is not None), server_delay=delay,
                       reason=reason, kind=name)

    # -- lifecycle --------------------------------------------------------------------------------------

    def shutdown(self, timeout_millis: float | None = None) -> None:
        """Abort any retry wait and close the channel (which cancels a call in flight)."""
        if self._shutdown:
            return
        self._shutdown = True
        self._stop.set()
        with self._lock:
            channel, self._channel, self._call = self._channel, None, None
        if channel is not None:
            try:
                channel.close()
            except Exception:  # closing must never raise into the caller
                _log.debug("closing the gRPC channel failed", exc_info=True)

    @property
    def _where(self) -> str:
        return self._target

    def __repr__(self) -> str:
        return f"OTLPSpanExporter(grpc, endpoint={self._target!r}, insecure={self._insecure})"


def _forget_channel(exporter: OTLPSpanExporter | None) -> None:
    """After fork the parent's channel must not be used: the child opens its own
    on its next export (the pid check in ``export``)."""
    if exporter is not None:
        exporter._lock = threading.Lock()  # another thread may have held it at fork time
        exporter._pid = -1
