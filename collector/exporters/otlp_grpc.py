"""OTLP/gRPC exporter (type ``otlp_grpc``, alias ``otlp``).

Sends each batch's serialized bytes as they are (a generic unary call with no
request serializer), so spans are never re-encoded, and classifies the
server's status as the OTLP spec says (``otel_lite.otlp.responses``, the rules
the SDK's exporter follows too): CANCELLED, DEADLINE_EXCEEDED, ABORTED,
OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS are retried (with the server's RetryInfo
delay when given); RESOURCE_EXHAUSTED only when it carries RetryInfo;
everything else is permanent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc

from otel_lite.otlp.responses import grpc_code_name, grpc_code_retryable, grpc_retry_delay, partial_success

from ..auth import AuthConfig, ClientAuthenticator, client_authenticator
from ..component import ComponentConfig, ConfigError, Duration, Factory
from ..consumer import SIGNALS, Batch, PermanentError, RetryableError, ThrottledError
from .helper import Exporter, ExporterConfig, TLSConfig

__all__ = ["FACTORY", "OTLPGrpcExporterConfig", "OTLPGrpcExporter", "classify_rpc_error"]


_COMPRESSION = {
    "gzip": grpc.Compression.Gzip,
    "none": grpc.Compression.NoCompression,
    "": grpc.Compression.NoCompression,
}


@dataclass
class ClientKeepaliveConfig(ComponentConfig):
    """Go's ``keepalive`` of a gRPC client: HTTP/2 pings that find a dead connection before a send does."""

    time: Duration = Duration(0.0)  # ping after this long without activity (0: no pings, gRPC's default)
    timeout: Duration = Duration(20.0)  # wait this long for the ping's answer, then close the connection
    permit_without_stream: bool = False  # ping even with no call in flight


@dataclass
class OTLPGrpcExporterConfig(ExporterConfig):
    endpoint: str = ""  # host:port (http:// plaintext, https:// TLS)
    tls: TLSConfig = field(default_factory=TLSConfig)
    headers: dict[str, str] = field(default_factory=dict, metadata={"secret": True})  # values redacted
    compression: str = "gzip"  # gzip or none
    balancer_name: str = ""  # gRPC's load-balancing policy (pick_first, round_robin)
    authority: str = ""  # the :authority (virtual host) instead of the endpoint's
    keepalive: ClientKeepaliveConfig | None = None
    wait_for_ready: bool = False  # a call waits for the connection instead of failing at once
    read_buffer_size: int = 0  # bytes asked of one read (gRPC's tcp_read_chunk_size); 0: gRPC's default
    write_buffer_size: int = 0  # accepted: gRPC's C core has no equivalent
    auth: AuthConfig | None = None

    def validate(self) -> None:
        target, _ = split_grpc_endpoint(self.endpoint)
        if not target:
            raise ConfigError("endpoint", "must be set (host:port)")
        if self.compression not in _COMPRESSION:
            raise ConfigError("compression", f"unsupported compression {self.compression!r} (use gzip or none)")
        if self.tls.insecure_skip_verify:
            raise ConfigError("tls.insecure_skip_verify", "not supported by the gRPC exporter; set tls.ca_file")
        if not self.tls.insecure and not self.tls.uses_grpc_default_versions():
            raise ConfigError(
                "tls.min_version",
                "gRPC (Python) always negotiates TLS 1.2 to 1.3: min_version "
                "and max_version cannot be changed on the gRPC exporter",
            )
        if self.read_buffer_size < 0 or self.write_buffer_size < 0:
            raise ConfigError("read_buffer_size", "buffer sizes must not be negative")
        for key in self.headers:
            if key != key.lower() or not key:
                raise ConfigError(f"headers.{key}", "gRPC metadata keys must be lowercase")


def split_grpc_endpoint(endpoint: str) -> tuple[str, bool | None]:
    """(host:port, scheme says insecure?) — ``http://`` means plaintext, ``https://`` TLS."""
    endpoint = endpoint.strip()
    if endpoint.startswith("http://"):
        return endpoint[len("http://") :].rstrip("/"), True
    if endpoint.startswith("https://"):
        return endpoint[len("https://") :].rstrip("/"), False
    return endpoint, None


def classify_rpc_error(err: grpc.aio.AioRpcError) -> Exception:
    code = err.code()
    message = f"rpc error: code = {code.name} desc = {err.details()}"
    delay = grpc_retry_delay(err.trailing_metadata())  # RetryInfo, or None
    if not grpc_code_retryable(code, delay is not None):
        return PermanentError(message, grpc_code=code)
    if delay or grpc_code_name(code) == "RESOURCE_EXHAUSTED":  # retryable only because of its RetryInfo
        return ThrottledError(message, delay or 0.0)  # RESOURCE_EXHAUSTED is retryable only with a delay
    return RetryableError(message)


class OTLPGrpcExporter(Exporter):
    def __init__(self, settings, config: OTLPGrpcExporterConfig):
        super().__init__(settings, config)
        self.config = config
        self._channel: grpc.aio.Channel | None = None
        self._call = None
        self._metadata = tuple(config.headers.items()) or None
        self._compression = _COMPRESSION[config.compression]
        self._auth: ClientAuthenticator | None = None  # auth extension: its headers go in every call's metadata

    async def start_client(self, host) -> None:
        cfg = self.config
        if cfg.auth is not None:
            self._auth = client_authenticator(host, cfg.auth, "auth")
        target, scheme_insecure = split_grpc_endpoint(cfg.endpoint)
        insecure = cfg.tls.insecure if scheme_insecure is None else scheme_insecure
        if insecure and self._auth is not None:  # the Go collector refuses this; we warn (loopback, sidecars)
            self.log.warning("auth credentials are sent over a plaintext connection to %s", target)
        # gRPC's reconnect backoff grows to 120 s by default: after a long backend outage the queue
        # would keep failing fast for up to two minutes once the backend is back.
        options = [("grpc.primary_user_agent", "otel-lite-collector"), ("grpc.max_reconnect_backoff_ms", 5000)]
        if cfg.balancer_name:
            options.append(("grpc.lb_policy_name", cfg.balancer_name))
        if cfg.authority:
            options.append(("grpc.default_authority", cfg.authority))
        if cfg.read_buffer_size:
            options.append(("grpc.experimental.tcp_read_chunk_size", cfg.read_buffer_size))
        if cfg.keepalive is not None and cfg.keepalive.time > 0:
            options += [
                ("grpc.keepalive_time_ms", int(cfg.keepalive.time * 1000)),
                ("grpc.keepalive_timeout_ms", int(cfg.keepalive.timeout * 1000)),
                ("grpc.keepalive_permit_without_calls", int(cfg.keepalive.permit_without_stream)),
                ("grpc.http2.max_pings_without_data", 0),  # keep pinging while idle, as Go's client does
            ]
        if insecure:
            self._channel = grpc.aio.insecure_channel(target, options=options)
        else:
            creds = cfg.tls.grpc_credentials()
            if cfg.tls.server_name_override:
                options.append(("grpc.ssl_target_name_override", cfg.tls.server_name_override))
            self._channel = grpc.aio.secure_channel(target, creds, options=options)
        # no request serializer: the batch's bytes go on the wire untouched
        self._call = self._channel.unary_unary(
            f"/{self.batch_class.grpc_service}/Export",
            request_serializer=None,
            response_deserializer=self.batch_class.response_class.FromString,
        )

    async def shutdown_client(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    async def push(self, traces: Batch) -> None:
        if self._call is None:
            raise RetryableError("exporter not started")
        metadata = self._metadata
        if self._auth is not None:
            metadata = (metadata or ()) + tuple((k.lower(), v) for k, v in self._auth.headers().items())
        try:
            response = await self._call(
                traces.to_bytes(),
                timeout=self.timeout or None,
                metadata=metadata,
                compression=self._compression,
                wait_for_ready=self.config.wait_for_ready or None,
            )
        except grpc.aio.AioRpcError as e:
            raise classify_rpc_error(e) from None
        ps = partial_success(response)
        if ps:
            self.log.warning(
                "Partial success response: message=%r dropped_%s=%d", ps.error_message, self.items, ps.rejected_spans
            )


def _create(settings, config: OTLPGrpcExporterConfig, next_consumer) -> OTLPGrpcExporter:
    return OTLPGrpcExporter(settings, config)


FACTORY = Factory(
    kind="exporter", type="otlp_grpc", config_class=OTLPGrpcExporterConfig, create=_create, signals=SIGNALS
)
