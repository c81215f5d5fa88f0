"""The ``health_check`` extension: 200 when the collector is ready, 503 otherwise.

A tiny HTTP/1.1 server on the collector's loop (one GET per connection is all a
probe needs), so it costs nothing while idle.

``shutdown_delay`` (ours, not in Go's config; Loki and Mimir name theirs the same):
on SIGTERM the check answers 503 at once, and the collector waits this long before
it stops its receivers, so a load balancer or a Kubernetes readiness probe takes the
instance out of rotation while it still accepts what is sent to it; then it shuts
down as usual (receivers, processors, exporters drain).  0, the default, stops at once.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

from ..component import Component, ComponentConfig, ConfigError, Duration, Factory
from ..config import split_endpoint

__all__ = ["FACTORY", "HealthCheckConfig", "HealthCheckExtension"]

_MAX_HEAD = 8192  # request line + headers of a probe
_READ_TIMEOUT = 5.0
_MAX_SHUTDOWN_DELAY = 600.0  # longer is a typo ("5m" meant "5s"?): no orchestrator waits that long


@dataclass
class ResponseBodyConfig(ComponentConfig):
    healthy: str = ""
    unhealthy: str = ""


@dataclass
class HealthCheckConfig(ComponentConfig):
    endpoint: str = "127.0.0.1:13133"
    path: str = "/"
    response_body: ResponseBodyConfig | None = None
    shutdown_delay: Duration = Duration(0.0)  # ours: on SIGTERM, 503 while the receivers still accept this long

    def validate(self) -> None:
        split_endpoint(self.endpoint, "endpoint")
        if not self.path.startswith("/"):
            raise ConfigError("path", "must start with /")
        if not 0 <= self.shutdown_delay <= _MAX_SHUTDOWN_DELAY:
            raise ConfigError(
                "shutdown_delay",
                f"{self.shutdown_delay:g}s is out of range: use 0 to {_MAX_SHUTDOWN_DELAY:g}s "
                "(and keep it, plus the exporters' drain, under the pod's terminationGracePeriodSeconds)",
            )


def _format_uptime(seconds: float) -> str:
    return f"{seconds:.3f}s"


class HealthCheckExtension(Component):
    def __init__(self, settings, config: HealthCheckConfig):
        self.settings = settings
        self.config = config
        self.log = settings.logger
        self.host = None
        self.port: int | None = None
        self._server: asyncio.AbstractServer | None = None
        self._started_at = time.time()

    @property
    def shutdown_delay(self) -> float:
        """Seconds the collector keeps running, answering 503 here, between SIGTERM and its shutdown."""
        return float(self.config.shutdown_delay)

    def _ready(self) -> bool:
        return bool(self.host is not None and getattr(self.host, "ready", False))

    def _body(self, ready: bool) -> bytes:
        custom = self.config.response_body
        if custom is not None:
            text = custom.healthy if ready else custom.unhealthy
            if text:
                return text.encode()
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._started_at))
        return json.dumps(
            {
                "status": "Server available" if ready else "Server not available",
                "upSince": since,
                "uptime": _format_uptime(time.time() - self._started_at),
            }
        ).encode()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT)
            method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            path = target.split("?", 1)[0]
            if path != self.config.path:
                status, body, ctype = "404 Not Found", b"404 page not found\n", "text/plain"
            elif method not in ("GET", "HEAD"):
                status, body, ctype = "405 Method Not Allowed", b"method not allowed\n", "text/plain"
            else:
                ready = self._ready()
                status = "200 OK" if ready else "503 Service Unavailable"
                body, ctype = self._body(ready), "application/json"
            writer.write(
                (
                    f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                    "Connection: close\r\n\r\n"
                ).encode()
                + (b"" if method == "HEAD" else body)
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, ConnectionError):
            pass  # a broken or oversized probe: just close
        finally:
            writer.close()

    async def start(self, host) -> None:
        self.host = host
        self._started_at = getattr(host, "started_at", None) or time.time()
        addr, port = split_endpoint(self.config.endpoint, "endpoint")
        try:
            self._server = await asyncio.start_server(self._handle, addr, port, limit=_MAX_HEAD)
        except OSError as e:
            raise OSError(f"health_check: cannot listen on {self.config.endpoint}: {e.strerror}") from None
        self.port = self._server.sockets[0].getsockname()[1]
        self.log.info("health check listening", extra={"endpoint": f"{addr}:{self.port}", "path": self.config.path})

    async def shutdown(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()


def _create(settings, config: HealthCheckConfig, next_consumer) -> HealthCheckExtension:
    return HealthCheckExtension(settings, config)


FACTORY = Factory(kind="extension", type="health_check", config_class=HealthCheckConfig, create=_create)
