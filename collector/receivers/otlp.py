"""The ``otlp`` receiver: OTLP/gRPC (grpc.aio) and OTLP/HTTP (uvicorn) on the collector's loop.

Requests stay protobuf: the gRPC handler takes raw bytes (no deserializer),
parses them once with upb to validate and count spans, and hands the pipeline
a ``Traces`` holding both the message and the original bytes.  Pipeline errors
map to status codes exactly as the Go receiver does (see ``grpc_status_for`` /
``http_status_for``).
"""
from __future__ import annotations

import asyncio
import io
import operator
import zlib
from dataclasses import dataclass, field

import grpc
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from otel_lite.otlp.json_codec import OTLPJSONError, json_to_request
from otel_lite.otlp.responses import (GRPC_RETRYABLE_CODES, RETRY_INFO_TRAILER, STATUS_DETAILS_TRAILER,
                                      format_retry_after, rpc_status)

from ..auth import AuthConfig, AuthMiddleware, grpc_interceptor, server_authenticator
from ..component import Component, ComponentConfig, ConfigError, Duration, Factory
from ..config import split_endpoint
from ..consumer import PermanentError, ThrottledError, Traces, count_spans
from ..grpc_server import start_server
from ..http_server import HTTPServer
from ..tls import TLSServerConfig
from .obsreport import TransportReport

__all__ = ["FACTORY", "OTLPReceiverConfig", "OTLPReceiver", "grpc_status_for", "http_status_for",
           "otlp_json_to_request"]

TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
MIB = 1024 * 1024
_EMPTY_RESPONSE = ExportTraceServiceResponse().SerializeToString()
_PROTO = "application/x-protobuf"
_JSON = "application/json"


# ---------------------------------------------------------------------------
# Config (names and defaults of configgrpc.ServerConfig / confighttp.ServerConfig)

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
    endpoint: str = "127.0.0.1:4317"
    transport: str = "tcp"
    max_recv_msg_size_mib: int = 4
    max_concurrent_streams: int = 0  # 0 = gRPC default
    read_buffer_size: int = 512 * 1024
    write_buffer_size: int = 0
    keepalive: KeepaliveServerConfig | None = None
    tls: TLSServerConfig | None = None
    auth: AuthConfig | None = None
    include_metadata: bool = False

    def validate(self) -> None:
        split_endpoint(self.endpoint, "endpoint")
        if self.transport != "tcp":
            raise ConfigError("transport", "only tcp is supported")
        if self.tls is not None and not self.tls.uses_grpc_default_versions():
            raise ConfigError("tls.min_version", "gRPC (Python) always negotiates TLS 1.2 to 1.3: min_version "
                                                 "and max_version cannot be changed on the gRPC protocol")
        if not 0 < self.max_recv_msg_size_mib <= 2047:
            raise ConfigError("max_recv_msg_size_mib", "must be between 1 and 2047")
        if self.max_concurrent_streams < 0:
            raise ConfigError("max_concurrent_streams", "must not be negative")


@dataclass
class CORSConfig(ComponentConfig):
    allowed_origins: list[str] = field(default_factory=list)
    allowed_headers: list[str] = field(default_factory=list)
    max_age: int = 0


_COMPRESSIONS = ("", "identity", "gzip", "zstd", "zlib", "deflate")


@dataclass
class HTTPServerConfig(ComponentConfig):
    endpoint: str = "127.0.0.1:4318"
    traces_url_path: str = "/v1/traces"
    max_request_body_size: int = 20 * MIB
    include_metadata: bool = False
    compression_algorithms: list[str] = field(default_factory=lambda: list(_COMPRESSIONS))
    # slow senders are cut off: a request's headers must arrive within read_header_timeout of the
    # connection (or of the previous response on it), its body within read_timeout; 0 disables
    read_header_timeout: Duration = Duration(10.0)
    read_timeout: Duration = Duration(30.0)
    cors: CORSConfig | None = None
    tls: TLSServerConfig | None = None
    auth: AuthConfig | None = None

    def validate(self) -> None:
        split_endpoint(self.endpoint, "endpoint")
        if self.max_request_body_size <= 0:
            raise ConfigError("max_request_body_size", "must be positive")
        for i, name in enumerate(self.compression_algorithms):
            if name not in _COMPRESSIONS:
                raise ConfigError(f"compression_algorithms[{i}]",
                                  f"unsupported {name!r} (supported: gzip, zstd, zlib, deflate)")
        if not self.traces_url_path.startswith("/"):  # sanitised like the Go receiver
            self.traces_url_path = "/" + self.traces_url_path


@dataclass
class Protocols(ComponentConfig):
    grpc: GRPCServerConfig | None = None
    http: HTTPServerConfig | None = None


@dataclass
class OTLPReceiverConfig(ComponentConfig):
    protocols: Protocols = field(default_factory=Protocols)

    @classmethod
    def from_mapping(cls, data, path: str = ""):
        # `grpc:` with no value enables the protocol with its defaults (as in the Go collector)
        if isinstance(data, dict) and isinstance(data.get("protocols"), dict):
            protocols = dict(data["protocols"])
            for name in ("grpc", "http"):
                if name in protocols and protocols[name] is None:
                    protocols[name] = {}
            data = {**data, "protocols": protocols}
        return super().from_mapping(data, path)

    def validate(self) -> None:
        if self.protocols.grpc is None and self.protocols.http is None:
            raise ConfigError("protocols", "must specify at least one protocol (grpc or http)")


# ---------------------------------------------------------------------------
# Error mapping (receiver/otlpreceiver/internal/errors)

_GRPC_TO_HTTP = {
    **{grpc.StatusCode[name]: 503 for name in GRPC_RETRYABLE_CODES},  # retryable: 503, which HTTP retries
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429, grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401, grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNIMPLEMENTED: 404,
}
_CODE_BY_NUMBER = {c.value[0]: c for c in grpc.StatusCode}


def _as_status_code(code) -> grpc.StatusCode | None:
    if code is None or isinstance(code, grpc.StatusCode):
        return code
    return _CODE_BY_NUMBER.get(int(code))


def grpc_status_for(exc: BaseException) -> grpc.StatusCode:
    if isinstance(exc, ThrottledError):
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if isinstance(exc, PermanentError):
        return _as_status_code(exc.grpc_code) or grpc.StatusCode.INTERNAL
    return grpc.StatusCode.UNAVAILABLE  # retryable, or any plain error (as the Go receiver)


def http_status_for(exc: BaseException) -> int:
    if isinstance(exc, ThrottledError):
        return 429
    if isinstance(exc, PermanentError):
        if exc.http_status:
            return exc.http_status
        code = _as_status_code(exc.grpc_code)
        return _GRPC_TO_HTTP.get(code, 500) if code is not None else 500
    return 503


def _status_message(code: grpc.StatusCode, message: str, delay: float | None = None) -> status_pb2.Status:
    return rpc_status(code, message, delay)


# ---------------------------------------------------------------------------
# OTLP JSON (hex ids): otel_lite.otlp.json_codec, shared with the exporters

class BadRequest(Exception):
    pass


def otlp_json_to_request(body: bytes) -> ExportTraceServiceRequest:
    """Parse an OTLP/JSON body (hex ids, unknown fields ignored); raises ``BadRequest``."""
    try:
        return json_to_request(body)
    except OTLPJSONError as e:
        raise BadRequest(str(e)) from None


# ---------------------------------------------------------------------------
# Request body decompression with a cap on the expanded size

class TooLarge(BadRequest):
    pass


def _decompress(body: bytes, encoding: str, limit: int) -> bytes:
    if encoding in ("", "identity"):
        return body
    if encoding == "zstd":
        import zstandard

        chunks, total, data = [], 0, body
        try:
            while data:  # frame by frame: concatenated frames are one body, as for Go's reader
                # a bounded read first (a frame may expand a million-fold and need not declare its size);
                # then the same frame with decompressobj, which tells whether the frame is complete (a
                # truncated stream reads as a short one) and where the next frame starts
                with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)) as reader:
                    if len(reader.read(limit - total + 1)) > limit - total:
                        raise TooLarge(f"decompressed body exceeds {limit} bytes")
                d = zstandard.ZstdDecompressor().decompressobj()
                out = d.decompress(data)
                if not d.eof:
                    raise BadRequest("truncated zstd body")
                total += len(out)
                chunks.append(out)
                data = d.unused_data
        except zstandard.ZstdError as e:
            raise BadRequest(f"invalid zstd body: {e}") from None
        return b"".join(chunks)
    if encoding == "gzip":
        wbits = 16 + zlib.MAX_WBITS
    elif encoding in ("deflate", "zlib"):
        wbits = zlib.MAX_WBITS  # HTTP "deflate" is zlib-wrapped (as Go's zlib reader expects)
    else:
        raise BadRequest(f"unsupported Content-Encoding {encoding!r}")
    chunks, total, data = [], 0, body
    try:
        while data:
            d = zlib.decompressobj(wbits)
            out = d.decompress(data, limit - total + 1)
            total += len(out)
            chunks.append(out)
            if total > limit or d.unconsumed_tail:
                raise TooLarge(f"decompressed body exceeds {limit} bytes")
            if not d.eof:
                raise BadRequest(f"truncated {encoding} body")
            data = d.unused_data if encoding == "gzip" else b""  # gzip may have several members
    except zlib.error as e:
        raise BadRequest(f"invalid {encoding} body: {e}") from None
    return b"".join(chunks)


_OFFLOAD_BYTES = 256 * 1024


def _decode_body(body: bytes, encoding: str, as_json: bool, limit: int):
    """Decompress and parse an HTTP request body → (message, raw protobuf bytes or None)."""
    body = _decompress(body, encoding, limit)
    if as_json:
        return otlp_json_to_request(body), None
    return _parse_proto(body), body


_ID16, _ID8 = (0, 16), (0, 8)
_span_ids = operator.attrgetter("trace_id", "span_id", "parent_span_id", "links")


def _parse_proto(raw: bytes) -> ExportTraceServiceRequest:
    """Parse a binary request; raises ``BadRequest``.  Ids of the wrong length are refused, as the Go
    collector's pdata refuses them (empty ids pass): accepted, they would poison the batches they end up
    in at a backend that checks them."""
    try:
        msg = ExportTraceServiceRequest.FromString(raw)
    except DecodeError as e:
        raise BadRequest(f"invalid ExportTraceServiceRequest: {e}") from None
    for rs in msg.resource_spans:
        for ss in rs.scope_spans:
            for trace_id, span_id, parent_id, links in map(_span_ids, ss.spans):  # ~0.45 us/span
                if len(trace_id) not in _ID16 or len(span_id) not in _ID8 or len(parent_id) not in _ID8:
                    raise BadRequest(f"invalid span ids: trace_id of {len(trace_id)} bytes, span_id of "
                                     f"{len(span_id)}, parent_span_id of {len(parent_id)} "
                                     "(trace ids have 16 bytes, span ids 8)")
                if links:
                    for link in links:
                        if len(link.trace_id) not in _ID16 or len(link.span_id) not in _ID8:
                            raise BadRequest(f"invalid link ids: trace_id of {len(link.trace_id)} bytes, span_id "
                                             f"of {len(link.span_id)} (trace ids have 16 bytes, span ids 8)")
    return msg


# ---------------------------------------------------------------------------
# The receiver

class OTLPReceiver(Component):
    def __init__(self, settings, config: OTLPReceiverConfig, next_consumer):
        self.settings = settings
        self.config = config
        self.next = next_consumer
        self.log = settings.logger
        self._m = {transport: TransportReport(settings, transport) for transport in ("grpc", "http")}
        self._grpc_server: grpc.aio.Server | None = None
        self._http_server: HTTPServer | None = None
        self.grpc_port: int | None = None
        self.http_port: int | None = None

    # -- shared --------------------------------------------------------------
    async def _push(self, traces: Traces, transport: str) -> BaseException | None:
        return await self._m[transport].push(self.next, traces)

    # -- gRPC ----------------------------------------------------------------
    async def _export_grpc(self, raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
        try:
            msg = _parse_proto(raw)
        except BadRequest as e:
            self._m["grpc"].requests["failure"].inc()
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        count = count_spans(msg)
        if count == 0:
            return _EMPTY_RESPONSE
        metadata = dict(context.invocation_metadata() or ()) if self.config.protocols.grpc.include_metadata else None
        err = await self._push(Traces(msg, raw, count, metadata), "grpc")
        if err is None:
            return _EMPTY_RESPONSE
        code = grpc_status_for(err)
        delay = err.delay if isinstance(err, ThrottledError) else None
        status = _status_message(code, str(err) or type(err).__name__, delay)
        trailers = ((STATUS_DETAILS_TRAILER, status.SerializeToString()),)
        if delay is not None:  # opentelemetry-python's gRPC exporter reads RetryInfo only from this trailer
            trailers += ((RETRY_INFO_TRAILER, status.details[0].value),)
        await context.abort(code, status.message, trailing_metadata=trailers)

    def _path(self, transport: str, key: str) -> str:
        return f"receivers.{self.settings.id}.protocols.{transport}.{key}"

    def _authenticator(self, auth: AuthConfig | None, transport: str):
        """The started authenticator extension ``auth`` names (None without ``auth``)."""
        if auth is None:
            return None
        return server_authenticator(getattr(self, "_host", None), auth, self._path(transport, "auth"))

    def _tls(self, transport: str, make):
        try:
            return make()
        except ConfigError as e:
            raise ConfigError(self._path(transport, f"tls.{e.path}"), e.message) from None

    async def _start_grpc(self, cfg: GRPCServerConfig) -> None:
        authenticator = self._authenticator(cfg.auth, "grpc")
        interceptors = []
        if authenticator is not None:
            interceptors.append(grpc_interceptor(authenticator, self._m["grpc"].requests["refused"].inc))
        credentials = self._tls("grpc", cfg.tls.grpc_credentials) if cfg.tls else None
        server, port = await start_server(
            cfg, TRACE_SERVICE, {"Export": grpc.unary_unary_rpc_method_handler(self._export_grpc)},  # raw bytes
            name="otlp receiver", credentials=credentials, interceptors=interceptors)
        self._grpc_server, self.grpc_port = server, port
        host = split_endpoint(cfg.endpoint, "endpoint")[0]
        self.log.info("OTLP/gRPC receiver listening", extra={"endpoint": f"{host}:{port}"})

    # -- HTTP ----------------------------------------------------------------
    def _http_app(self, cfg: HTTPServerConfig):
        from fastapi import FastAPI, Request, Response

        app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        receiver = self
        limit = cfg.max_request_body_size
        allowed_encodings = set(cfg.compression_algorithms)
        requests_failed = self._m["http"].requests["failure"]

        def error(status: int, code: grpc.StatusCode, message: str, as_json: bool, headers=None) -> Response:
            body = _status_message(code, message)
            if as_json:
                return Response(json_format.MessageToJson(body, indent=None), status, headers, _JSON)
            return Response(body.SerializeToString(), status, headers, _PROTO)

        async def export(request: Request) -> Response:
            if request.method != "POST":
                return Response("405 method not allowed, supported: [POST]", 405, {"Allow": "POST"}, "text/plain")
            ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if ctype == _PROTO:
                as_json = False
            elif ctype == _JSON:
                as_json = True
            else:
                return Response(f"415 unsupported media type, supported: [{_JSON}, {_PROTO}]", 415, None,
                                "text/plain")
            declared = request.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                requests_failed.inc()
                return error(400, grpc.StatusCode.INVALID_ARGUMENT,
                             f"request body too large (limit {limit} bytes)", as_json, {"Connection": "close"})
            chunks, size = [], 0
            try:
                async with asyncio.timeout(cfg.read_timeout or None):
                    async for chunk in request.stream():
                        size += len(chunk)
                        if size > limit:
                            requests_failed.inc()
                            return error(400, grpc.StatusCode.INVALID_ARGUMENT,
                                         f"request body too large (limit {limit} bytes)", as_json,
                                         {"Connection": "close"})
                        chunks.append(chunk)
            except TimeoutError:  # a sender trickling its body
                requests_failed.inc()
                return error(408, grpc.StatusCode.DEADLINE_EXCEEDED,
                             f"request body not received within read_timeout ({cfg.read_timeout:g}s)", as_json,
                             {"Connection": "close"})
            body = b"".join(chunks)
            encoding = request.headers.get("content-encoding", "").strip().lower()
            try:
                if encoding not in allowed_encodings:
                    raise BadRequest(f"unsupported Content-Encoding {encoding!r}")
                if size < _OFFLOAD_BYTES and not encoding:
                    msg, raw = _decode_body(body, encoding, as_json, limit)
                else:  # big or compressed bodies are decoded off the loop so other clients stay served
                    msg, raw = await asyncio.to_thread(_decode_body, body, encoding, as_json, limit)
            except BadRequest as e:
                requests_failed.inc()
                return error(400, grpc.StatusCode.INVALID_ARGUMENT, str(e), as_json)
            count = count_spans(msg)
            if count:
                metadata = dict(request.headers) if cfg.include_metadata else None
                err = await receiver._push(Traces(msg, raw, count, metadata), "http")
                if err is not None:
                    headers = None
                    if isinstance(err, ThrottledError):
                        headers = {"Retry-After": format_retry_after(err.delay)}
                    return error(http_status_for(err), grpc_status_for(err), str(err) or type(err).__name__,
                                 as_json, headers)
            if as_json:
                return Response(b"{}", 200, None, _JSON)
            return Response(_EMPTY_RESPONSE, 200, None, _PROTO)

        # a plain (Starlette) route: the handler takes the Request, no FastAPI parameter injection per call
        app.add_route(cfg.traces_url_path, export, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"],
                      include_in_schema=False)
        authenticator = self._authenticator(cfg.auth, "http")
        if authenticator is not None:  # added before CORS, so CORS wraps it and preflights need no token
            def auth_error(message: str, as_json: bool) -> tuple[bytes, str]:
                body = _status_message(grpc.StatusCode.UNAUTHENTICATED, message)
                if as_json:
                    return json_format.MessageToJson(body, indent=None).encode(), _JSON
                return body.SerializeToString(), _PROTO

            app.add_middleware(AuthMiddleware, authenticator=authenticator, error_body=auth_error,
                               on_refused=self._m["http"].requests["refused"].inc)
        if cfg.cors and cfg.cors.allowed_origins:
            from starlette.middleware.cors import CORSMiddleware

            app.add_middleware(CORSMiddleware, allow_origins=cfg.cors.allowed_origins,
                               allow_headers=cfg.cors.allowed_headers or [], allow_methods=["POST"],
                               max_age=cfg.cors.max_age or 600)
        return app

    async def _start_http(self, cfg: HTTPServerConfig) -> None:
        ssl_context = self._tls("http", cfg.tls.ssl_context) if cfg.tls else None
        server = HTTPServer(self._http_app(cfg), cfg.endpoint, name=f"receiver {self.settings.id}", log=self.log,
                            ssl_context=ssl_context, read_header_timeout=float(cfg.read_header_timeout))
        await server.start()
        self._http_server, self.http_port = server, server.port
        host = split_endpoint(cfg.endpoint, "endpoint")[0]
        self.log.info("OTLP/HTTP receiver listening", extra={"endpoint": f"{host}:{self.http_port}"})

    # -- lifecycle -----------------------------------------------------------
    async def start(self, host) -> None:
        self._host = host  # authenticator extensions are looked up here
        protocols = self.config.protocols
        if protocols.grpc is not None:
            await self._start_grpc(protocols.grpc)
        if protocols.http is not None:
            try:
                await self._start_http(protocols.http)
            except BaseException:
                await self.shutdown()
                raise

    async def shutdown(self) -> None:
        server, self._http_server = self._http_server, None
        if server is not None:
            await server.stop()
        grpc_server, self._grpc_server = self._grpc_server, None
        if grpc_server is not None:
            await grpc_server.stop(grace=5)


def _create(settings, config: OTLPReceiverConfig, next_consumer) -> OTLPReceiver:
    return OTLPReceiver(settings, config, next_consumer)


FACTORY = Factory(kind="receiver", type="otlp", config_class=OTLPReceiverConfig, create=_create, stability="beta")
