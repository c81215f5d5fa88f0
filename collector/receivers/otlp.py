"""The ``otlp`` receiver: OTLP/gRPC (grpc.aio) and OTLP/HTTP (uvicorn) on the collector's loop.

Traces, metrics and logs (each served only when a pipeline of that signal lists
the receiver: otherwise gRPC answers UNIMPLEMENTED and HTTP 404, as Go's).
Requests stay protobuf: the gRPC handler takes raw bytes (no deserializer),
parses them once with upb to validate and count items, and hands the pipeline
a batch (``Traces``, ``Metrics``, ``Logs``) holding both the message and the original bytes.  Pipeline errors
map to status codes exactly as the Go receiver does (``receivers.errors``, shared by every
receiver); bodies are read, capped and decompressed by ``receivers.http_body``.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import grpc
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_lite.otlp.json_codec import OTLPJSONError, json_to_request
from otel_lite.otlp.responses import media_type

from ..auth import AuthConfig, AuthMiddleware, server_authenticator
from ..component import Component, ComponentConfig, ConfigError, Factory
from ..config import split_endpoint
from ..consumer import SIGNALS, Batch, Logs, Metrics, Traces
from ..grpc_server import GRPCServerConfig, start_server
from ..http_server import HTTPServer, HTTPServerConfig
from ..tls import TLSServerConfig  # noqa: F401  (both protocols' tls: tests/collector/test_tls.py looks for it here)
from .errors import abort_grpc, http_failure, status_body
from .http_body import CLOSE, BadRequest, BodyNotRead, BodyTimeout, content_encoding, decode_body, read_body
from .obsreport import TransportReport

__all__ = ["FACTORY", "OTLPReceiverConfig", "OTLPReceiver", "otlp_json_to_request"]

TRACE_SERVICE = Traces.grpc_service
_PROTO = "application/x-protobuf"
_JSON = "application/json"


# ---------------------------------------------------------------------------
# Config (names and defaults of the Go receiver: configgrpc.ServerConfig, in collector.grpc_server, and
# confighttp.ServerConfig)


@dataclass
class OTLPGRPCConfig(GRPCServerConfig):
    endpoint: str = "127.0.0.1:4317"


@dataclass
class CORSConfig(ComponentConfig):
    allowed_origins: list[str] = field(default_factory=list)
    allowed_headers: list[str] = field(default_factory=list)
    max_age: int = 0


@dataclass
class OTLPHTTPConfig(HTTPServerConfig):
    endpoint: str = "127.0.0.1:4318"
    traces_url_path: str = "/v1/traces"
    metrics_url_path: str = "/v1/metrics"
    logs_url_path: str = "/v1/logs"
    cors: CORSConfig | None = None
    auth: AuthConfig | None = None

    def validate(self) -> None:
        super().validate()
        for signal in SIGNALS:  # sanitised like the Go receiver
            key = f"{signal}_url_path"
            if not getattr(self, key).startswith("/"):
                setattr(self, key, "/" + getattr(self, key))
        paths = [getattr(self, f"{signal}_url_path") for signal in SIGNALS]
        if len(set(paths)) != len(paths):
            raise ConfigError("traces_url_path", f"the three signals' paths must differ, got {', '.join(paths)}")


@dataclass
class Protocols(ComponentConfig):
    grpc: OTLPGRPCConfig | None = None
    http: OTLPHTTPConfig | None = None


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
# OTLP JSON (hex ids): otel_lite.otlp.json_codec, shared with the exporters


def otlp_json_to_request(body: bytes, request_class=ExportTraceServiceRequest):
    """Parse an OTLP/JSON body (hex ids, unknown fields ignored); raises ``BadRequest``."""
    try:
        return json_to_request(body, request_class)
    except OTLPJSONError as e:
        raise BadRequest(str(e)) from None


_ID16, _ID8 = (0, 16), (0, 8)
_span_ids = operator.attrgetter("trace_id", "span_id", "parent_span_id", "links")


def _parse_proto(raw: bytes, request_class=ExportTraceServiceRequest):
    """Parse a binary request; raises ``BadRequest``.  Ids of the wrong length are refused, as the Go
    collector's pdata refuses them (empty ids pass): accepted, they would poison the batches they end up
    in at a backend that checks them.  (Log records' ids are checked too; metric exemplars' are not.)"""
    try:
        msg = request_class.FromString(raw)
    except DecodeError as e:
        raise BadRequest(f"invalid {request_class.__name__}: {e}") from None
    if request_class is ExportTraceServiceRequest:
        _check_span_ids(msg)
    elif request_class is Logs.request_class:
        _check_log_ids(msg)
    return msg


_log_ids = operator.attrgetter("trace_id", "span_id")


def _check_log_ids(msg) -> None:
    for rl in msg.resource_logs:
        for sl in rl.scope_logs:
            for trace_id, span_id in map(_log_ids, sl.log_records):
                if len(trace_id) not in _ID16 or len(span_id) not in _ID8:
                    raise BadRequest(
                        f"invalid log record ids: trace_id of {len(trace_id)} bytes, span_id of "
                        f"{len(span_id)} (trace ids have 16 bytes, span ids 8, or none)"
                    )


def _check_span_ids(msg) -> None:
    for rs in msg.resource_spans:
        for ss in rs.scope_spans:
            for trace_id, span_id, parent_id, links in map(_span_ids, ss.spans):  # ~0.45 us/span
                if len(trace_id) not in _ID16 or len(span_id) not in _ID8 or len(parent_id) not in _ID8:
                    raise BadRequest(
                        f"invalid span ids: trace_id of {len(trace_id)} bytes, span_id of "
                        f"{len(span_id)}, parent_span_id of {len(parent_id)} "
                        "(trace ids have 16 bytes, span ids 8)"
                    )
                if links:
                    for link in links:
                        if len(link.trace_id) not in _ID16 or len(link.span_id) not in _ID8:
                            raise BadRequest(
                                f"invalid link ids: trace_id of {len(link.trace_id)} bytes, span_id "
                                f"of {len(link.span_id)} (trace ids have 16 bytes, span ids 8)"
                            )


class _Signal:
    """What the receiver needs per signal: its batch class, its parsers and its empty answer."""

    __slots__ = ("batch_class", "empty_response", "proto_body", "json_body")

    def __init__(self, batch_class: type[Batch]):
        request_class = batch_class.request_class
        self.batch_class = batch_class
        self.empty_response = batch_class.response_class().SerializeToString()
        self.proto_body = lambda body: (_parse_proto(body, request_class), body)
        self.json_body = lambda body: (otlp_json_to_request(body, request_class), None)


_SIGNALS = {c.signal: _Signal(c) for c in (Traces, Metrics, Logs)}


def _signals_of(consumer) -> tuple[str, ...]:
    """The signals ``consumer`` takes: a pipeline router says (``signals``); a bare consumer, as
    tests build, takes traces."""
    return getattr(consumer, "signals", ("traces",))


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
    async def _push(self, batch: Batch, transport: str) -> BaseException | None:
        return await self._m[transport].push(self.next, batch)

    # -- gRPC ----------------------------------------------------------------
    def _grpc_export(self, signal: _Signal):
        request_class = signal.batch_class.request_class

        async def export(raw: bytes, context: grpc.aio.ServicerContext) -> bytes:  # type: ignore[return]
            try:
                msg = _parse_proto(raw, request_class)
            except BadRequest as e:
                self._m["grpc"].bad_request(str(e))
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
            batch_class = signal.batch_class
            count = batch_class.count(msg)
            if count == 0:
                return signal.empty_response
            grpc_cfg = self.config.protocols.grpc
            metadata = dict(context.invocation_metadata() or ()) if grpc_cfg.include_metadata else None  # type: ignore[union-attr]
            err = await self._push(batch_class(msg, raw, count, metadata), "grpc")
            if err is None:
                return signal.empty_response
            await abort_grpc(context, err)

        return export

    def _path(self, transport: str, key: str = "") -> str:
        """Where a protocol's setting stands in the configuration."""
        path = f"receivers.{self.settings.id}.protocols.{transport}"
        return f"{path}.{key}" if key else path

    def _authenticator(self, auth: AuthConfig | None, transport: str):
        """The started authenticator extension ``auth`` names (None without ``auth``)."""
        if auth is None:
            return None
        return server_authenticator(getattr(self, "_host", None), auth, self._path(transport, "auth"))

    async def _start_grpc(self, cfg: OTLPGRPCConfig) -> None:
        services = {  # raw bytes in and out: no (de)serializers
            _SIGNALS[s].batch_class.grpc_service: {
                "Export": grpc.unary_unary_rpc_method_handler(self._grpc_export(_SIGNALS[s]))
            }
            for s in _signals_of(self.next)
        }
        server, port = await start_server(
            cfg,
            services,
            name="otlp receiver",
            path=self._path("grpc"),
            host=getattr(self, "_host", None),
            on_auth_refused=self._m["grpc"].requests["refused"].inc,
        )
        self._grpc_server, self.grpc_port = server, port
        host = split_endpoint(cfg.endpoint, "endpoint")[0]
        self.log.info("OTLP/gRPC receiver listening", extra={"endpoint": f"{host}:{port}"})

    # -- HTTP ----------------------------------------------------------------
    def _http_app(self, cfg: OTLPHTTPConfig):
        from fastapi import FastAPI, Request, Response

        app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        receiver = self
        limit = cfg.max_request_body_size
        allowed_encodings = set(cfg.compression_algorithms)
        report = self._m["http"]

        def error(status: int, code: grpc.StatusCode, message: str, as_json: bool, headers=None) -> Response:
            body, media_type = status_body(code, message, as_json)
            return Response(body, status, headers, media_type)

        def route(signal: _Signal):
            async def export(request: Request) -> Response:
                return await handle(request, signal)

            return export

        async def handle(request: Request, signal: _Signal) -> Response:
            if request.method != "POST":
                return Response("405 method not allowed, supported: [POST]", 405, {"Allow": "POST"}, "text/plain")
            ctype = media_type(request.headers.get("content-type"))
            if ctype == _PROTO:
                as_json = False
            elif ctype == _JSON:
                as_json = True
            else:
                return Response(f"415 unsupported media type, supported: [{_JSON}, {_PROTO}]", 415, None, "text/plain")
            try:
                body = await read_body(request, limit, cfg.read_timeout)
                msg, raw = await decode_body(
                    body,
                    content_encoding(request),
                    limit,
                    signal.json_body if as_json else signal.proto_body,
                    allowed=allowed_encodings,
                )
            except BodyNotRead as e:
                report.bad_request(str(e))
                code = (
                    grpc.StatusCode.DEADLINE_EXCEEDED
                    if isinstance(e, BodyTimeout)
                    else grpc.StatusCode.INVALID_ARGUMENT
                )
                return error(e.status, code, str(e), as_json, CLOSE)
            except BadRequest as e:
                report.bad_request(str(e))
                return error(400, grpc.StatusCode.INVALID_ARGUMENT, str(e), as_json)
            count = signal.batch_class.count(msg)
            if count:
                metadata = dict(request.headers) if cfg.include_metadata else None
                err = await receiver._push(signal.batch_class(msg, raw, count, metadata), "http")
                if err is not None:
                    failure = http_failure(err)
                    return error(failure.status, failure.code, failure.message, as_json, failure.headers)
            if as_json:
                return Response(b"{}", 200, None, _JSON)
            return Response(signal.empty_response, 200, None, _PROTO)

        # plain (Starlette) routes: the handler takes the Request, no FastAPI parameter injection per call
        for name in _signals_of(self.next):
            app.add_route(
                getattr(cfg, f"{name}_url_path"),
                route(_SIGNALS[name]),
                methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"],
                include_in_schema=False,
            )
        authenticator = self._authenticator(cfg.auth, "http")
        if authenticator is not None:  # added before CORS, so CORS wraps it and preflights need no token

            def auth_error(message: str, as_json: bool) -> tuple[bytes, str]:
                return status_body(grpc.StatusCode.UNAUTHENTICATED, message, as_json)

            app.add_middleware(
                AuthMiddleware,
                authenticator=authenticator,
                error_body=auth_error,
                on_refused=self._m["http"].requests["refused"].inc,
            )
        if cfg.cors and cfg.cors.allowed_origins:
            from starlette.middleware.cors import CORSMiddleware

            app.add_middleware(
                CORSMiddleware,
                allow_origins=cfg.cors.allowed_origins,
                allow_headers=cfg.cors.allowed_headers or [],
                allow_methods=["POST"],
                max_age=cfg.cors.max_age or 600,
            )
        return app

    async def _start_http(self, cfg: OTLPHTTPConfig) -> None:
        server = cfg.server(
            self._http_app(cfg), name=f"receiver {self.settings.id}", log=self.log, path=self._path("http")
        )
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


FACTORY = Factory(
    kind="receiver", type="otlp", config_class=OTLPReceiverConfig, create=_create, stability="beta", signals=SIGNALS
)
