"""OTLP/gRPC span exporter: ``_otlp_common.OTLPExporter`` (the export loop:
batch splitting, deadline, retries, accounting) over ``GrpcTransport``.

The transport is a synchronous ``grpc`` channel (the exporter runs on the batch
processor's worker thread) and one generic unary call on
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

import os
import threading
import weakref
from collections.abc import Sequence
from urllib.parse import urlparse

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from ..config import env_bool
from ..otlp.responses import grpc_code_retryable, grpc_retry_delay, partial_success
from ._otlp_common import (
    USER_AGENT,
    OTLPExporter,
    env_names,
    first_env,
    read_file,
    resolve_compression,
    resolve_file,
    resolve_headers,
)
from .otlp_encode import encode_spans
from .retry import Attempt, RetryPolicy

__all__ = ["OTLPSpanExporter", "GrpcTransport"]


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
        for name in (*env_names("INSECURE"), "OTEL_EXPORTER_OTLP_SPAN_INSECURE"):
            insecure = env_bool(name)
            if insecure is not None:
                break
    if insecure is None:
        insecure = scheme == "http"
    return bool(insecure)


class GrpcTransport:
    """OTLP/gRPC requests on one channel (an ``OTLPTransport``).  Arguments as
    ``OTLPSpanExporter``'s; the resolved settings are attributes (``target``,
    ``insecure``, ``credentials``, ``metadata``, ``compression``)."""

    kind, name = "grpc", "OTLP gRPC exporter"
    # the default limit of gRPC servers (grpc-go, the collector's max_recv_msg_size_mib, grpcio) on a received
    # message: a larger batch would be refused as RESOURCE_EXHAUSTED, so it is split
    max_request_size = 4 * 1024 * 1024

    def __init__(
        self,
        endpoint: str | None = None,
        insecure: bool | None = None,
        headers=None,
        compression=None,
        certificate_file: str | None = None,
        client_key_file: str | None = None,
        client_certificate_file: str | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        channel_options: Sequence | None = None,
    ):
        endpoint = endpoint or first_env("ENDPOINT") or DEFAULT_ENDPOINT
        parsed = urlparse(endpoint)
        # http(s)://host:port -> host:port; anything else (host:port, dns:///..., unix:...) is a gRPC target
        self.target = parsed.netloc if parsed.scheme in ("http", "https") and parsed.netloc else endpoint
        self.endpoint = endpoint
        self.insecure = _resolve_insecure(insecure, parsed.scheme)
        self.credentials = None
        if not self.insecure:
            self.credentials = credentials or self._tls_credentials(
                certificate_file, client_key_file, client_certificate_file
            )
        self.metadata = tuple(resolve_headers(headers, "grpc").items())
        self.compression = _GRPC_COMPRESSION[resolve_compression(compression, ("gzip", "none"))]
        options = dict(_CHANNEL_OPTIONS)
        options.update(channel_options or ())
        self._channel_options = tuple(options.items())
        self._lock = threading.Lock()
        self._closed = False
        self._channel = None
        self._call = None
        self._pid = os.getpid()
        self._open_channel()
        if hasattr(os, "register_at_fork"):
            ref = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _forget_channel(ref()))

    @property
    def where(self) -> str:
        return self.target

    @staticmethod
    def _tls_credentials(certificate_file, client_key_file, client_certificate_file) -> grpc.ChannelCredentials:
        files = []
        for argument, suffix, what in (
            (certificate_file, "CERTIFICATE", "certificate file"),
            (client_key_file, "CLIENT_KEY", "client key file"),
            (client_certificate_file, "CLIENT_CERTIFICATE", "client certificate file"),
        ):
            files.append(read_file(resolve_file(argument, suffix), what, argument is not None))
        root, key, chain = files
        return grpc.ssl_channel_credentials(root_certificates=root, private_key=key, certificate_chain=chain)

    def _open_channel(self) -> None:
        if self.insecure:
            channel = grpc.insecure_channel(self.target, options=self._channel_options, compression=self.compression)
        else:
            channel = grpc.secure_channel(
                self.target, self.credentials, options=self._channel_options, compression=self.compression
            )
        self._channel = channel
        self._call = channel.unary_unary(
            _EXPORT_METHOD, request_serializer=None, response_deserializer=ExportTraceServiceResponse.FromString
        )
        self._pid = os.getpid()

    def encode(self, spans: Sequence) -> bytes:
        return encode_spans(spans)

    def prepare(self, body: bytes) -> bytes:
        return body  # the channel compresses

    def send(self, body: bytes, seconds_left: float) -> Attempt:
        if self._pid != os.getpid():  # forked without at-fork hooks: the parent's channel must not be used
            with self._lock:
                if self._pid != os.getpid() and not self._closed:
                    self._open_channel()
        call = self._call
        if call is None:
            return Attempt(False, reason="channel closed", kind="closed")
        try:
            response = call(body, timeout=seconds_left, metadata=self.metadata)
        except grpc.RpcError as error:
            return self._failed_attempt(error)
        except ValueError as error:  # the channel was closed by shutdown() while sending
            return Attempt(False, reason=str(error), kind="closed")
        except Exception as error:  # never raise into the batch processor
            return Attempt(False, reason=f"{type(error).__name__}: {error}", kind="client")
        return Attempt(True, value=partial_success(response))

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
        return Attempt(
            False, retryable=grpc_code_retryable(code, delay is not None), server_delay=delay, reason=reason, kind=name
        )

    def close(self) -> None:
        """Close the channel (which cancels a call in flight)."""
        with self._lock:
            self._closed = True
            channel, self._channel, self._call = self._channel, None, None
        if channel is not None:
            channel.close()

    def __repr__(self) -> str:
        return f"GrpcTransport(endpoint={self.target!r}, insecure={self.insecure})"


class OTLPSpanExporter(OTLPExporter):
    """Exports spans over OTLP/gRPC, with opentelemetry-sdk's constructor arguments
    (``OTLPExporter`` over a ``GrpcTransport``).  ``timeout`` is in seconds (the whole
    export, retries included; ``timeout_millis`` from the batch processor can only
    shorten it).  ``credentials`` (``grpc.ChannelCredentials``) replaces the
    certificate files.  ``retry_policy`` tunes the backoff
    (``otel_lite.export.retry.RetryPolicy``).  A batch whose encoding exceeds
    ``max_request_size`` (default 4 MiB, gRPC servers' usual limit) is split in
    halves.  ``export`` never raises: a failure is logged (rate-limited) and
    returned as FAILURE; ``stats()`` gives the counters."""

    def __init__(
        self,
        endpoint: str | None = None,
        insecure: bool | None = None,
        headers=None,
        timeout: float | None = None,
        compression=None,
        certificate_file: str | None = None,
        client_key_file: str | None = None,
        client_certificate_file: str | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        *,
        channel_options: Sequence | None = None,
        retry_policy: RetryPolicy | None = None,
        max_request_size: int | None = None,
    ):
        transport = GrpcTransport(
            endpoint,
            insecure,
            headers,
            compression,
            certificate_file,
            client_key_file,
            client_certificate_file,
            credentials,
            channel_options,
        )
        super().__init__(transport, timeout, retry_policy=retry_policy, max_request_size=max_request_size)


def _forget_channel(transport: GrpcTransport | None) -> None:
    """After fork the parent's channel must not be used: the child opens its own
    on its next send (the pid check in ``send``)."""
    if transport is not None:
        transport._lock = threading.Lock()  # another thread may have held it at fork time
        transport._pid = -1
