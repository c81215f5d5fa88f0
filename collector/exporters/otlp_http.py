"""OTLP/HTTP exporter (type ``otlp_http``, alias ``otlphttp``).

POSTs each batch to ``<endpoint>/v1/traces`` (or ``traces_endpoint``) with a
keep-alive ``httpx.AsyncClient``: the batch's protobuf bytes as they are
(``encoding: proto``) or OTLP JSON (``encoding: json``).  Per the OTLP spec 429,
502, 503 and 504 are retried (``Retry-After`` seconds or HTTP-date honoured as
the minimum delay), every other 4xx/5xx is permanent, and connection errors are
retried (the rules, and the JSON encoding, are ``otel_lite.otlp``'s, shared
with the SDK's exporter).  Response bodies are read up to 64 KiB.
"""

from __future__ import annotations

import asyncio
import gzip
import http.cookiejar
import logging
import ssl
import zlib
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from otel_lite.otlp.json_codec import request_to_json
from otel_lite.otlp.responses import error_message, http_status_retryable, parse_partial_success, parse_retry_after

from ..auth import AuthConfig, ClientAuthenticator, client_authenticator
from ..component import ComponentConfig, ConfigError, Duration, Factory
from ..consumer import SIGNALS, Batch, PermanentError, RetryableError, ThrottledError, batch_class
from .helper import Exporter, ExporterConfig, TLSConfig

__all__ = ["FACTORY", "OTLPHttpExporterConfig", "OTLPHttpExporter", "parse_retry_after"]

MAX_RESPONSE_BYTES = 64 * 1024
_DATA_STATUS = frozenset({400, 413})  # bad or too large data
_COMPRESSIONS = ("gzip", "zstd", "deflate", "zlib", "none", "")
_OFFLOAD_BYTES = 64 * 1024  # encode/compress bigger bodies off the loop
_OFFLOAD_SPANS = 256

# httpx logs every request at INFO: far too chatty for a daemon's data path
if logging.getLogger("httpx").level == logging.NOTSET:
    logging.getLogger("httpx").setLevel(logging.WARNING)


@dataclass
class CompressionParams(ComponentConfig):
    level: int = 0  # the compressor's level (0: gzip 6, zstd 3, deflate 6)


@dataclass
class CookiesConfig(ComponentConfig):
    enabled: bool = False  # keep the cookies a backend sets (a sticky load balancer's) and send them back


@dataclass
class OTLPHttpExporterConfig(ExporterConfig):
    endpoint: str = ""
    traces_endpoint: str = ""
    metrics_endpoint: str = ""
    logs_endpoint: str = ""
    encoding: str = "proto"
    compression: str = "gzip"
    headers: dict[str, str] = field(default_factory=dict, metadata={"secret": True})  # values redacted
    tls: TLSConfig = field(default_factory=TLSConfig)
    timeout: Duration = Duration(30.0)
    max_idle_conns: int = 100  # connections kept open for reuse
    max_idle_conns_per_host: int = 0  # one backend per exporter here: the lower of this and max_idle_conns
    max_conns_per_host: int = 0  # at most this many connections (0: one per queue consumer)
    idle_conn_timeout: Duration = Duration(5.0)  # closed after this idle time (Go: 90s: more often closed by a backend)
    disable_keep_alives: bool = False  # a new connection for every request
    proxy_url: str = ""  # an http(s) proxy to send through (HTTP_PROXY/HTTPS_PROXY are honoured anyway)
    compression_params: CompressionParams = field(default_factory=CompressionParams)
    read_buffer_size: int = 0  # accepted: the socket's buffers are the kernel's
    write_buffer_size: int = 0  # accepted: the socket's buffers are the kernel's
    http2_read_idle_timeout: Duration = Duration(0.0)  # accepted: requests go over HTTP/1.1
    http2_ping_timeout: Duration = Duration(0.0)  # accepted: requests go over HTTP/1.1
    cookies: CookiesConfig = field(default_factory=CookiesConfig)
    auth: AuthConfig | None = None

    def validate(self) -> None:
        if not any(getattr(self, key) for key in _URL_KEYS):
            raise ConfigError("endpoint", "must be set (or traces_endpoint, metrics_endpoint, logs_endpoint)")
        for key in _URL_KEYS:
            url = getattr(self, key)
            if url:
                parts = urlsplit(url)
                if parts.scheme not in ("http", "https") or not parts.netloc:
                    raise ConfigError(key, f"invalid URL {url!r} (expected http(s)://host:port[/path])")
        if self.encoding not in ("proto", "json"):
            raise ConfigError("encoding", f"unsupported encoding {self.encoding!r} (use proto or json)")
        if self.compression not in _COMPRESSIONS:
            raise ConfigError(
                "compression", f"unsupported compression {self.compression!r} (use gzip, zstd, deflate or none)"
            )
        for key in ("max_idle_conns", "max_idle_conns_per_host", "max_conns_per_host"):
            if getattr(self, key) < 0:
                raise ConfigError(key, "must not be negative")
        if self.proxy_url:
            parts = urlsplit(self.proxy_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigError("proxy_url", f"invalid proxy URL {self.proxy_url!r} (expected http(s)://host:port)")
        level, name = self.compression_params.level, self.compression
        limits = {"gzip": 9, "deflate": 9, "zlib": 9, "zstd": 22}
        if level and name in limits and not 1 <= level <= limits[name]:
            raise ConfigError("compression_params.level", f"{name} takes 1 to {limits[name]}")

    def validate_signal(self, signal: str) -> None:
        """A pipeline of ``signal`` uses this exporter: it needs a URL for that signal."""
        if not self.endpoint and not getattr(self, f"{signal}_endpoint"):
            raise ConfigError(
                f"{signal}_endpoint", f"must be set (or endpoint): a {signal} pipeline uses this exporter"
            )

    def url(self, signal: str = "traces") -> str:
        """``<signal>_endpoint`` as given, else ``endpoint`` + ``/v1/<signal>`` (Go's rule)."""
        return getattr(self, f"{signal}_endpoint") or self.endpoint.rstrip("/") + batch_class(signal).url_path


_URL_KEYS = ("endpoint", "traces_endpoint", "metrics_endpoint", "logs_endpoint")


class _NoCookies(http.cookiejar.CookieJar):
    """A jar that keeps nothing: Go's client sends no cookies unless ``cookies.enabled``."""

    def __init__(self) -> None:
        super().__init__(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


def _compressor(name: str, level: int = 0):
    if name == "gzip":
        return lambda data: gzip.compress(data, compresslevel=level or 6, mtime=0)
    if name in ("deflate", "zlib"):
        return lambda data: zlib.compress(data, level or 6)
    if name == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=level or 3).compress
    return None


class OTLPHttpExporter(Exporter):
    def __init__(self, settings, config: OTLPHttpExporterConfig):
        super().__init__(settings, config)
        self.config = config
        self.url = config.url(self.signal)
        self._client: httpx.AsyncClient | None = None
        self._json = config.encoding == "json"
        self._compress = _compressor(config.compression, config.compression_params.level)
        self._headers = {
            "Content-Type": "application/json" if self._json else "application/x-protobuf",
            "User-Agent": "otel-lite-collector",
        }
        if self._compress is not None:
            self._headers["Content-Encoding"] = "deflate" if config.compression == "zlib" else config.compression
        self._headers.update(config.headers)
        self._auth: ClientAuthenticator | None = None  # auth extension: its headers go in every request
        self._extensions = (
            {"sni_hostname": config.tls.server_name_override} if config.tls.server_name_override else None
        )

    async def start_client(self, host) -> None:
        if self.config.auth is not None:
            self._auth = client_authenticator(host, self.config.auth, "auth")
            if self.url.startswith("http://"):
                self.log.warning("auth credentials are sent over a plaintext connection to %s", self.url)
        verify: ssl.SSLContext = self.config.tls.ssl_context()  # ConfigError at tls.<key> on bad files
        # one connection per queue consumer; without a queue, callers send concurrently
        cfg = self.config
        pool = cfg.max_conns_per_host or (
            self.queue_cfg.num_consumers if self.queue_cfg else max(cfg.max_idle_conns, 10)
        )
        idle = 0 if cfg.disable_keep_alives else cfg.max_idle_conns
        if cfg.max_idle_conns_per_host:
            idle = min(idle, cfg.max_idle_conns_per_host)
        self._client = httpx.AsyncClient(
            verify=verify,
            timeout=self.timeout or None,
            follow_redirects=False,
            limits=httpx.Limits(
                max_connections=pool, max_keepalive_connections=idle, keepalive_expiry=cfg.idle_conn_timeout
            ),
            proxy=cfg.proxy_url or None,
            cookies=None if cfg.cookies.enabled else _NoCookies(),
        )

    async def shutdown_client(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _encode(self, traces: Batch) -> bytes:
        data = request_to_json(traces.message) if self._json else traces.to_bytes()
        return data if self._compress is None else self._compress(data)

    async def _body(self, traces: Batch) -> bytes:
        # big bodies are encoded off the loop (zlib/zstd release the GIL; JSON at least yields)
        if traces.item_count >= _OFFLOAD_SPANS or len(traces.to_bytes()) >= _OFFLOAD_BYTES:
            return await asyncio.to_thread(self._encode, traces)
        return self._encode(traces)

    async def push(self, traces: Batch) -> None:
        if self._client is None:
            raise RetryableError("exporter not started")
        body = await self._body(traces)
        headers = self._headers if self._auth is None else {**self._headers, **self._auth.headers()}
        request = self._client.build_request(
            "POST", self.url, content=body, headers=headers, extensions=self._extensions
        )
        try:
            response = await self._client.send(request, stream=True)
            try:
                data = await _read_capped(response)
            finally:
                await response.aclose()
        except httpx.TransportError as e:  # connect/read/write errors and timeouts: retry
            raise RetryableError(f"failed to make an HTTP request: {type(e).__name__}: {e}") from None
        status = response.status_code
        if 200 <= status < 300:
            self._partial_success(data, response.headers.get("content-type", ""))
            return
        ctype = response.headers.get("content-type", "")
        message = f"HTTP {status} from {self.url}: {error_message(data, ctype)}"
        if http_status_retryable(status):
            delay = parse_retry_after(response.headers.get("retry-after"))
            if delay is not None:
                raise ThrottledError(message, delay)
            raise RetryableError(message)
        # the backend's verdict on the data itself is passed on; its other refusals (auth, routing,
        # server faults) are this collector's problem, not the client's: they become a plain 500
        raise PermanentError(message, http_status=status if status in _DATA_STATUS else None)

    def _partial_success(self, data: bytes, content_type: str) -> None:
        try:
            ps = parse_partial_success(data, content_type, self.batch_class.response_class)
        except ValueError as e:  # the data was accepted; a malformed answer is only worth a warning
            self.log.warning("could not parse the export response: %s", e)
            return
        if ps:
            self.log.warning(
                "Partial success response: message=%r dropped_%s=%d", ps.error_message, self.items, ps.rejected_spans
            )


async def _read_capped(response: httpx.Response) -> bytes:
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        room = MAX_RESPONSE_BYTES - size
        chunks.append(chunk[:room])
        size += min(len(chunk), room)
        if size >= MAX_RESPONSE_BYTES:
            break
    return b"".join(chunks)


def _create(settings, config: OTLPHttpExporterConfig, next_consumer) -> OTLPHttpExporter:
    return OTLPHttpExporter(settings, config)


FACTORY = Factory(
    kind="exporter", type="otlp_http", config_class=OTLPHttpExporterConfig, create=_create, signals=SIGNALS
)
