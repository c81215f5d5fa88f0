"""The HTTP server side every HTTP receiver shares (the Go Collector's ``confighttp``): the server
config (its keys and defaults), and an ASGI app served by uvicorn on the collector's event loop.
Request bodies (size limit, read timeout, decompression) are ``collector.receivers.http_body``'s.

Binding happens before serving so a busy port fails the component's start with a clear error;
the collector, not uvicorn, owns SIGTERM/SIGINT; a sender that trickles its request headers is
cut off after ``read_header_timeout`` (uvicorn has no such timeout); and at shutdown idle
keep-alive connections are dropped once no request is in flight, so a TLS close handshake with
a vanished peer cannot hold shutdown for the whole grace period.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from dataclasses import dataclass, field
from typing import Any

from .component import ComponentConfig, ConfigError, Duration
from .config import split_endpoint
from .receivers.http_body import COMPRESSIONS
from .tls import TLSServerConfig

__all__ = ["HTTPServerConfig", "HTTPServer", "DEFAULT_READ_HEADER_TIMEOUT"]

DEFAULT_READ_HEADER_TIMEOUT = 10.0  # seconds, as the Go Collector's confighttp
_MIB = 1024 * 1024


@dataclass
class HTTPServerConfig(ComponentConfig):
    """``confighttp.ServerConfig``: the keys every HTTP receiver serves; a receiver subclasses it to give
    ``endpoint`` its default (and to add its own keys)."""

    endpoint: str = ""
    # applies to the body as sent and to its decompressed size
    max_request_body_size: int = 20 * _MIB
    include_metadata: bool = False
    # what Content-Encoding may say ("" and "identity": not compressed)
    compression_algorithms: list[str] = field(default_factory=lambda: list(COMPRESSIONS))
    # slow senders are cut off: a request's headers must arrive within read_header_timeout of the
    # connection (or of the previous response on it), its body within read_timeout; 0 disables
    read_header_timeout: Duration = Duration(DEFAULT_READ_HEADER_TIMEOUT)
    read_timeout: Duration = Duration(30.0)
    tls: TLSServerConfig | None = None

    def validate(self) -> None:
        split_endpoint(self.endpoint, "endpoint")
        if self.max_request_body_size <= 0:
            raise ConfigError("max_request_body_size", "must be positive")
        for i, name in enumerate(self.compression_algorithms):
            if name not in COMPRESSIONS:
                raise ConfigError(f"compression_algorithms[{i}]",
                                  f"unsupported {name!r} (supported: gzip, zstd, zlib, deflate)")

    def server(self, app, *, name: str, log: logging.Logger, path: str) -> HTTPServer:
        """An ``HTTPServer`` for ``app`` with these settings (not started); ``path``: where this config
        stands in the configuration, named by TLS errors."""
        ssl_context = None
        if self.tls is not None:
            try:
                ssl_context = self.tls.ssl_context()
            except ConfigError as e:
                raise ConfigError(f"{path}.tls.{e.path}", e.message) from None
        return HTTPServer(app, self.endpoint, name=name, log=log, ssl_context=ssl_context,
                          read_header_timeout=float(self.read_header_timeout))


class HTTPServer:
    """``start()`` binds ``endpoint`` and serves ``app``; ``port`` is the bound port; ``stop()`` drains."""

    def __init__(self, app, endpoint: str, *, name: str, log: logging.Logger, ssl_context=None,
                 read_header_timeout: float = DEFAULT_READ_HEADER_TIMEOUT):
        self.app = app
        self.endpoint = endpoint
        self.name = name  # e.g. "otlp receiver", used in errors and the task name
        self.log = log
        self.ssl_context = ssl_context
        self.read_header_timeout = read_header_timeout
        self.port: int | None = None
        self._server: Any = None  # a uvicorn.Server (imported when started)
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        import uvicorn

        class _Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self):  # the collector owns SIGTERM/SIGINT
                yield

            async def _wait_tasks_to_complete(self):
                while self.server_state.tasks and not self.force_exit:
                    await asyncio.sleep(0.02)
                for connection in list(self.server_state.connections):  # idle keep-alive connections
                    transport = getattr(connection, "transport", None)
                    if transport is not None:
                        transport.abort()
                await super()._wait_tasks_to_complete()

        host, port = split_endpoint(self.endpoint, "endpoint")
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
        except OSError as e:
            sock.close()
            raise OSError(f"{self.name}: cannot listen on HTTP endpoint {self.endpoint}: {e.strerror}") from None
        config = uvicorn.Config(self.app, lifespan="off", access_log=False, log_config=None, log_level="warning",
                                timeout_graceful_shutdown=5, server_header=False,
                                h11_max_incomplete_event_size=64 * 1024,
                                http=_h11_protocol(self.read_header_timeout) if self.read_header_timeout else "h11")
        if self.ssl_context is not None:  # collector.tls builds the context (versions, client CAs)
            config.load()
            config.ssl = self.ssl_context
        server = self._server = _Server(config)
        self.port = sock.getsockname()[1]
        self._task = asyncio.create_task(server.serve(sockets=[sock]), name=f"{self.name} HTTP")
        while not server.started:  # startup is quick; fail fast if serve() died
            if self._task.done():
                sock.close()
                self._task.result()
                raise OSError(f"{self.name}: HTTP server on {self.endpoint} did not start")
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        server, self._server = self._server, None
        task, self._task = self._task, None
        if server is not None:
            server.should_exit = True
        if task is not None:
            try:
                await task
            except Exception:
                self.log.exception("%s: HTTP server stopped with an error", self.name)


def _h11_protocol(read_header_timeout: float):
    """uvicorn's h11 protocol that closes a connection whose request headers have not arrived
    ``read_header_timeout`` seconds after the connection was made or the previous response was sent
    (uvicorn has no such timeout: a slowloris sender would hold its connection forever)."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    reason = b"request headers not received within read_header_timeout"
    timeout_response = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\nconnection: close\r\n"
                        b"content-length: %d\r\n\r\n%s" % (len(reason), reason))

    class Protocol(H11Protocol):
        _header_timer = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm_header_timer()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm_header_timer()

        def connection_lost(self, exc) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None
            super().connection_lost(exc)

        def _arm_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
            self._header_timer = self.loop.call_later(read_header_timeout, self._header_timeout)

        def _header_timeout(self) -> None:
            self._header_timer = None
            if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
                return  # a request is being read or answered: the body has read_timeout
            if self.conn.trailing_data[0]:  # part of a request arrived: tell the sender why
                self.transport.write(timeout_response)
            self.transport.close()

    return Protocol
