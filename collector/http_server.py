"""The HTTP server side every HTTP receiver shares (the Go Collector's ``confighttp``): the server
config (its keys and defaults), and an ASGI app served by uvicorn on the collector's event loop.
Request bodies (size limit, read timeout, decompression) are ``otel_lite.collector.receivers.http_body``'s.

Binding happens before serving so a busy port fails the component's start with a clear error;
the collector, not uvicorn, owns SIGTERM/SIGINT; a sender that trickles its request headers is
cut off after ``read_header_timeout`` (uvicorn has no such timeout); and at shutdown idle
keep-alive connections are dropped once no request is in flight, so a TLS close handshake with
a vanished peer cannot hold shutdown for the whole grace period.  A request for a path no route
serves is answered 404 with a ``google.rpc.Status`` body, as every other error (``answer_unknown_paths``).
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

__all__ = ["HTTPServerConfig", "HTTPServer", "DEFAULT_READ_HEADER_TIMEOUT", "answer_unknown_paths"]

DEFAULT_READ_HEADER_TIMEOUT = 10.0  # seconds, as the Go Collector's confighttp
DEFAULT_IDLE_TIMEOUT = 120.0  # seconds
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
    # connection (or of the next request's first bytes on it), its body within read_timeout; 0 disables
    read_header_timeout: Duration = Duration(DEFAULT_READ_HEADER_TIMEOUT)
    read_timeout: Duration = Duration(30.0)
    # a keep-alive connection idle this long after a response is closed (Go's OTLP receiver: never;
    # longer than an SDK's 5 s / 60 s export intervals, so a client's reuse does not race the close)
    idle_timeout: Duration = Duration(DEFAULT_IDLE_TIMEOUT)
    # accepted: a response is a few hundred bytes, which the kernel's send buffer takes whole
    write_timeout: Duration = Duration(0.0)
    # added to every response (a proxy's or a browser's needs)
    response_headers: dict[str, str] = field(default_factory=dict)
    tls: TLSServerConfig | None = None

    def validate(self) -> None:
        split_endpoint(self.endpoint, "endpoint")
        if self.max_request_body_size <= 0:
            raise ConfigError("max_request_body_size", "must be positive")
        if self.idle_timeout <= 0:
            raise ConfigError("idle_timeout", "must be positive (idle connections are closed at some point here)")
        for key, value in self.response_headers.items():
            if not key or any(c in key + str(value) for c in "\r\n") or ":" in key:
                raise ConfigError(f"response_headers.{key}", "not a valid header name and value")
        for i, name in enumerate(self.compression_algorithms):
            if name not in COMPRESSIONS:
                raise ConfigError(
                    f"compression_algorithms[{i}]", f"unsupported {name!r} (supported: gzip, zstd, zlib, deflate)"
                )

    def server(self, app, *, name: str, log: logging.Logger, path: str) -> HTTPServer:
        """An ``HTTPServer`` for ``app`` with these settings (not started); ``path``: where this config
        stands in the configuration, named by TLS errors."""
        ssl_context = None
        if self.tls is not None:
            try:
                ssl_context = self.tls.ssl_context()
            except ConfigError as e:
                raise ConfigError(f"{path}.tls.{e.path}", e.message) from None
        answer_unknown_paths(app, name)
        if self.response_headers:
            app = _with_headers(app, self.response_headers)
        return HTTPServer(
            app,
            self.endpoint,
            name=name,
            log=log,
            ssl_context=ssl_context,
            read_header_timeout=float(self.read_header_timeout),
            idle_timeout=float(self.idle_timeout),
        )


def _with_headers(app, headers: dict[str, str]):
    """The ASGI ``app`` with ``headers`` added to every response it starts."""
    extra = [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in headers.items()]

    async def with_headers(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return await app(scope, receive, send_with_headers)

    return with_headers


def answer_unknown_paths(app, name: str) -> None:
    """Make a Starlette (or FastAPI) ``app`` answer a path none of its routes serves as the receivers answer
    every other error: 404 with a ``google.rpc.Status`` (code NOT_FOUND) in the request's encoding, protobuf
    when its content type is ``application/x-protobuf``, JSON otherwise (not Starlette's ``Not Found`` nor
    FastAPI's ``{"detail": "Not Found"}``).  ``name`` (``receiver otlp``) starts the message.  Other ASGI
    apps are left as they are."""
    add_handler = getattr(app, "add_exception_handler", None)
    if add_handler is None:
        return

    from otel_lite.otlp.responses import media_type

    from .receivers.errors import status_body

    def served() -> list[str]:
        return [path for path in (getattr(route, "path", None) for route in getattr(app, "routes", ())) if path]

    async def not_found(request, exc):
        from starlette.responses import Response

        paths = served()
        path = request.url.path
        if path in paths:  # a route's own 404 (an HTTPException it raised): its words
            message = f"{name}: {getattr(exc, 'detail', None) or 'not found'}"
        else:
            message = f"{name}: unknown path {path} (this receiver serves: {', '.join(paths) or 'nothing'})"
        as_json = media_type(request.headers.get("content-type")) != "application/x-protobuf"
        body, content_type = status_body("NOT_FOUND", message, as_json)
        return Response(body, 404, getattr(exc, "headers", None), content_type)

    add_handler(404, not_found)


class HTTPServer:
    """``start()`` binds ``endpoint`` and serves ``app``; ``port`` is the bound port; ``stop()`` drains."""

    def __init__(
        self,
        app,
        endpoint: str,
        *,
        name: str,
        log: logging.Logger,
        ssl_context=None,
        read_header_timeout: float = DEFAULT_READ_HEADER_TIMEOUT,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    ):
        self.app = app
        self.idle_timeout = idle_timeout
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
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            access_log=False,
            log_config=None,
            log_level="warning",
            timeout_graceful_shutdown=5,
            timeout_keep_alive=self.idle_timeout,  # type: ignore[arg-type]  # a float works: call_later
            server_header=False,
            h11_max_incomplete_event_size=_MAX_HEADER_BYTES,
            http=http_protocol(self.read_header_timeout),
        )
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


_MAX_HEADER_BYTES = 64 * 1024  # request line + headers; more is refused (431) and the connection closed


def http_protocol(read_header_timeout: float):
    """uvicorn's HTTP/1.1 protocol with the collector's limits: httptools (llhttp, in C) when it is
    installed, h11 (pure Python, ~40% slower per small request) otherwise."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return _h11_protocol(read_header_timeout)
    return _httptools_protocol(read_header_timeout)


def _plain_response(status: bytes, reason: bytes) -> bytes:
    return b"HTTP/1.1 %s\r\ncontent-type: text/plain\r\nconnection: close\r\ncontent-length: %d\r\n\r\n%s" % (
        status,
        len(reason),
        reason,
    )


_TIMEOUT_RESPONSE = _plain_response(b"408 Request Timeout", b"request headers not received within read_header_timeout")
_TOO_LARGE_RESPONSE = _plain_response(b"431 Request Header Fields Too Large", b"request headers too large")


class _HeaderDeadline:
    """Mixed into a uvicorn protocol: a connection whose request headers have not arrived
    ``read_header_timeout`` seconds after it was made or the next request's first bytes came is closed
    (408 when part of a request arrived). uvicorn has no such timeout: a slowloris sender would
    hold its connection forever. The parser-specific part is ``_awaiting_headers``."""

    read_header_timeout = 0.0
    _header_timer: asyncio.TimerHandle | None = None
    transport: Any
    loop: Any

    def _awaiting_headers(self) -> tuple[bool, bool]:
        """(no request is being read or answered, part of the next request arrived)"""
        raise NotImplementedError

    def connection_made(self, transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm_header_timer()

    def on_response_complete(self) -> None:
        # between requests the connection is idle: uvicorn's keep-alive timer (idle_timeout) closes it;
        # the next request's headers get read_header_timeout from its first bytes, as in Go's net/http
        self._cancel_header_timer()
        super().on_response_complete()  # type: ignore[misc]

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and self._awaiting_headers()[0] and not self.transport.is_closing():
            self._arm_header_timer()
        super().data_received(data)  # type: ignore[misc]

    def connection_lost(self, exc) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)  # type: ignore[misc]

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _arm_header_timer(self) -> None:
        if not self.read_header_timeout:
            return
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.read_header_timeout, self._header_timeout)

    def _header_timeout(self) -> None:
        self._header_timer = None
        idle, partial = self._awaiting_headers()
        if self.transport.is_closing() or not idle:
            return  # a request is being read or answered: the body has read_timeout
        if partial:  # tell the sender why
            self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()


def _httptools_protocol(read_header_timeout: float):
    """uvicorn's httptools protocol with the header deadline and at most ``_MAX_HEADER_BYTES`` of
    request line and headers (431 and close)."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class Protocol(_HeaderDeadline, HttpToolsProtocol):
        _header_bytes = 0  # request line and headers parsed for the current request
        _in_request = False  # headers complete, response not yet sent
        _partial = False  # bytes of a next request arrived

        def _awaiting_headers(self) -> tuple[bool, bool]:
            return not self._in_request, self._partial

        def data_received(self, data: bytes) -> None:
            if not self._in_request:
                self._partial = True
            super().data_received(data)

        def on_url(self, url: bytes) -> None:
            self._count_header_bytes(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count_header_bytes(len(name) + len(value) + 4)
            super().on_header(name, value)

        def _count_header_bytes(self, n: int) -> None:
            self._header_bytes += n
            if self._header_bytes > _MAX_HEADER_BYTES:
                # stops the parser; uvicorn answers 400 and closes (after our 431 when it can)
                if not self.transport.is_closing():
                    self.transport.write(_TOO_LARGE_RESPONSE)
                    self.transport.close()
                raise ValueError("request headers too large")

        def on_headers_complete(self) -> None:
            self._in_request, self._partial, self._header_bytes = True, False, 0
            self._cancel_header_timer()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            self._in_request = False
            super().on_response_complete()

    Protocol.read_header_timeout = read_header_timeout
    return Protocol


def _h11_protocol(read_header_timeout: float):
    """uvicorn's h11 protocol with the header deadline (h11 bounds trickled headers itself with
    ``h11_max_incomplete_event_size``)."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class Protocol(_HeaderDeadline, H11Protocol):
        def _awaiting_headers(self) -> tuple[bool, bool]:
            return self.conn.their_state is h11.IDLE, bool(self.conn.trailing_data[0])

    Protocol.read_header_timeout = read_header_timeout
    return Protocol
