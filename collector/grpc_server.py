"""The gRPC server side every gRPC receiver shares (the Go Collector's ``configgrpc``): the server
config (its keys and defaults), the grpc.aio options they become, and a server on the collector's loop
with raw-bytes handlers (no deserializer: receivers parse what they need), TLS credentials, the
authenticator extension ``auth`` names as an interceptor, and a clear error when the endpoint cannot
be bound.

Of configgrpc's keys, ``write_buffer_size`` has no equivalent in gRPC's C core (its
``grpc.http2.write_buffer_size`` bounds what one stream queues under a write-buffer hint, which a
server answering unary calls never sets): it is accepted, so configs load, and does nothing;
``read_buffer_size`` is the C core's
read size (``grpc.experimental.tcp_read_chunk_size``: how much one ``recvmsg`` asks for, as Go's
read buffer says how much one read syscall takes).
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from .auth import AuthConfig, grpc_interceptor, server_authenticator
from .component import ComponentConfig, ConfigError, Duration
from .config import split_endpoint
from .tls import TLSServerConfig

__all__ = [
    "KeepaliveServerParameters",
    "KeepaliveEnforcementPolicy",
    "KeepaliveServerConfig",
    "GRPCServerConfig",
    "server_options",
    "start_server",
]

_MIB = 1024 * 1024
_MAX_READ_BUFFER = 32 * _MIB  # the C core ignores a larger read size (and uses its default)


# ---------------------------------------------------------------------------
# Config (names and defaults of configgrpc.ServerConfig)


@dataclass
class KeepaliveServerParameters(ComponentConfig):
    max_connection_idle: Duration | None = None
    max_connection_age: Duration | None = None
    max_connection_age_grace: Duration | None = None
    time: Duration | None = None
    timeout: Duration | None = None


@dataclass
class KeepaliveEnforcementPolicy(ComponentConfig):
    min_time: Duration | None = None
    permit_without_stream: bool = False


@dataclass
class KeepaliveServerConfig(ComponentConfig):
    server_parameters: KeepaliveServerParameters | None = None
    enforcement_policy: KeepaliveEnforcementPolicy | None = None


@dataclass
class GRPCServerConfig(ComponentConfig):
    """``configgrpc.ServerConfig``; a receiver subclasses it to give ``endpoint`` its default."""

    endpoint: str = ""
    transport: str = "tcp"
    max_recv_msg_size_mib: int = 4
    max_concurrent_streams: int = 0  # 0 = gRPC default
    read_buffer_size: int = 512 * 1024  # bytes asked of one read from a connection; 0 = gRPC default (8 KiB)
    write_buffer_size: int = 0  # accepted: gRPC's C core has no equivalent
    keepalive: KeepaliveServerConfig | None = None
    tls: TLSServerConfig | None = None
    auth: AuthConfig | None = None
    include_metadata: bool = False

    def validate(self) -> None:
        split_endpoint(self.endpoint, "endpoint")
        if self.transport != "tcp":
            raise ConfigError("transport", "only tcp is supported")
        if self.tls is not None and not self.tls.uses_grpc_default_versions():
            raise ConfigError(
                "tls.min_version",
                "gRPC (Python) always negotiates TLS 1.2 to 1.3: min_version "
                "and max_version cannot be changed on the gRPC protocol",
            )
        if not 0 < self.max_recv_msg_size_mib <= 2047:
            raise ConfigError("max_recv_msg_size_mib", "must be between 1 and 2047")
        if self.max_concurrent_streams < 0:
            raise ConfigError("max_concurrent_streams", "must not be negative")
        if not 0 <= self.read_buffer_size <= _MAX_READ_BUFFER:
            raise ConfigError("read_buffer_size", f"must be between 0 (gRPC's default) and {_MAX_READ_BUFFER}")
        if self.write_buffer_size < 0:
            raise ConfigError("write_buffer_size", "must not be negative")


# ---------------------------------------------------------------------------
# The server


def server_options(cfg: GRPCServerConfig) -> list:
    """grpc options for a server config."""
    opts = [
        ("grpc.max_receive_message_length", cfg.max_recv_msg_size_mib * _MIB),
        ("grpc.so_reuseport", 0),
    ]  # a second collector on the same port must fail, not share it
    if cfg.max_concurrent_streams:
        opts.append(("grpc.max_concurrent_streams", cfg.max_concurrent_streams))
    if cfg.read_buffer_size:
        opts.append(("grpc.experimental.tcp_read_chunk_size", cfg.read_buffer_size))
    ka = cfg.keepalive
    if ka and ka.server_parameters:
        sp = ka.server_parameters
        for key, value in (
            ("grpc.max_connection_idle_ms", sp.max_connection_idle),
            ("grpc.max_connection_age_ms", sp.max_connection_age),
            ("grpc.max_connection_age_grace_ms", sp.max_connection_age_grace),
            ("grpc.keepalive_time_ms", sp.time),
            ("grpc.keepalive_timeout_ms", sp.timeout),
        ):
            if value is not None:
                opts.append((key, int(value * 1000)))
    if ka and ka.enforcement_policy:
        ep = ka.enforcement_policy
        if ep.min_time is not None:
            opts.append(("grpc.http2.min_ping_interval_without_data_ms", int(ep.min_time * 1000)))
        opts.append(("grpc.keepalive_permit_without_calls", int(ep.permit_without_stream)))
    return opts


async def start_server(
    cfg: GRPCServerConfig, services: dict[str, dict], *, name: str, path: str, host=None, on_auth_refused=None
) -> tuple[grpc.aio.Server, int]:
    """Serve ``services`` (service name -> {method name -> rpc method handler}) on ``cfg.endpoint``; returns
    (server, bound port).  ``path``: where ``cfg`` stands in the configuration (errors in ``tls`` and
    ``auth`` name it); ``host``: the started collector, whose extensions ``auth`` names;
    ``on_auth_refused``: called for each call the authenticator refuses."""
    credentials = None
    if cfg.tls is not None:
        try:
            credentials = cfg.tls.grpc_credentials()
        except ConfigError as e:
            raise ConfigError(f"{path}.tls.{e.path}", e.message) from None
    interceptors = []
    if cfg.auth is not None:
        authenticator = server_authenticator(host, cfg.auth, f"{path}.auth")
        interceptors.append(grpc_interceptor(authenticator, on_auth_refused))
    server = grpc.aio.server(options=server_options(cfg), interceptors=interceptors or None)
    server.add_generic_rpc_handlers(
        tuple(grpc.method_handlers_generic_handler(service, methods) for service, methods in services.items())
    )
    if credentials is not None:
        port = server.add_secure_port(cfg.endpoint, credentials)
    else:
        port = server.add_insecure_port(cfg.endpoint)
    if not port:
        raise OSError(f"{name}: cannot listen on gRPC endpoint {cfg.endpoint}")
    await server.start()
    return server, port
