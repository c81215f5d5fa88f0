"""A grpc.aio server on the collector's loop for a receiver: options from the Go Collector's
configgrpc keys, raw-bytes handlers (no deserializer: receivers parse what they need), TLS
credentials, interceptors (authentication), and a clear error when the endpoint cannot be bound."""
from __future__ import annotations

import grpc

__all__ = ["server_options", "start_server"]

_MIB = 1024 * 1024


def server_options(cfg) -> list:
    """grpc options for a config with ``max_recv_msg_size_mib``, ``max_concurrent_streams`` and,
    optionally, ``keepalive`` (server_parameters / enforcement_policy)."""
    opts = [("grpc.max_receive_message_length", cfg.max_recv_msg_size_mib * _MIB),
            ("grpc.so_reuseport", 0)]  # a second collector on the same port must fail, not share it
    if cfg.max_concurrent_streams:
        opts.append(("grpc.max_concurrent_streams", cfg.max_concurrent_streams))
    ka = getattr(cfg, "keepalive", None)
    if ka and ka.server_parameters:
        sp = ka.server_parameters
        for key, value in (("grpc.max_connection_idle_ms", sp.max_connection_idle),
                           ("grpc.max_connection_age_ms", sp.max_connection_age),
                           ("grpc.max_connection_age_grace_ms", sp.max_connection_age_grace),
                           ("grpc.keepalive_time_ms", sp.time), ("grpc.keepalive_timeout_ms", sp.timeout)):
            if value is not None:
                opts.append((key, int(value * 1000)))
    if ka and ka.enforcement_policy:
        ep = ka.enforcement_policy
        if ep.min_time is not None:
            opts.append(("grpc.http2.min_ping_interval_without_data_ms", int(ep.min_time * 1000)))
        opts.append(("grpc.keepalive_permit_without_calls", int(ep.permit_without_stream)))
    return opts


async def start_server(cfg, service: str, methods: dict, *, name: str, credentials=None,
                       interceptors=()) -> tuple[grpc.aio.Server, int]:
    """Serve ``methods`` (name -> rpc method handler) of ``service`` on ``cfg.endpoint``; returns
    (server, bound port).  ``credentials``: server TLS credentials, or None for plaintext."""
    server = grpc.aio.server(options=server_options(cfg), interceptors=list(interceptors) or None)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, methods),))
    if credentials is not None:
        port = server.add_secure_port(cfg.endpoint, credentials)
    else:
        port = server.add_insecure_port(cfg.endpoint)
    if not port:
        raise OSError(f"{name}: cannot listen on gRPC endpoint {cfg.endpoint}")
    await server.start()
    return server, port
