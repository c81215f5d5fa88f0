"""The ``otlp`` receiver: OTLP/gRPC (grpc.aio) and OTLP/HTTP (uvicorn) on the collector's loop.

Requests stay protobuf: the gRPC handler takes raw bytes (no deserializer),
parses them once with upb to validate and count spans, and hands the pipeline
a ``Traces`` holding both the message and the original bytes.  Pipeline errors
map to status codes exactly as the Go receiver does (``receivers.errors``, shared by every
receiver); bodies are read, capped and decompressed by ``receivers.http_body``.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import grpc
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from otel_lite.otlp.json_codec import OTLPJSONError, json_to_request
from otel_lite.otlp.responses import media_type

from ..auth import AuthConfig, AuthMiddleware, server_authenticator
from ..component import Component, ComponentConfig, ConfigError, Factory
from ..config import split_endpoint
from ..consumer import Traces, count_spans
from ..grpc_server import GRPCServerConfig, start_server
from ..http_server import HTTPServer, HTTPServerConfig
from ..tls import TLSServerConfig  # noqa: F401  (both protocols' tls: tests/collector/test_tls.py looks for it here)
from .errors import abort_grpc, http_failure, status_body
from .http_body import CLOSE, BadRequest, BodyNotRead, BodyTimeout, content_encoding, decode_body, read_body
from .obsreport import TransportReport

__all__ = ["FACTORY", "OTLPReceiverConfig", "OTLPReceiver", "otlp_json_to_request"]

TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
_EMPTY_RESPONSE = ExportTraceServiceResponse().SerializeToString()
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
    cors: CORSConfig | None = None
    auth: AuthConfig | None = None

    def validate(self) -> None:
        super().validate()
        if not self.traces_url_path.startswith("/"):  # sanitised like the Go receiver
            self.traces_url_path = "/" + self.traces_url_path


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


def otlp_json_to_request(body: bytes) -> ExportTraceServiceRequest:
    """Parse an OTLP/JSON body (hex ids, unknown fields ignored); raises ``BadRequest``."""
    try:
        return json_to_request(body)
    except OTLPJSONError as e:
        raise BadRequest(str(e)) from None


def _json_body(body: bytes) -> tuple[ExportTraceServiceRequest, None]:
    return otlp_json_to_request(body), None


def _proto_body(body: bytes) -> tuple[ExportTraceServiceRequest, bytes]:
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
    async def _export_grpc(self, raw: bytes, context: grpc.aio.ServicerContext) -> bytes:  # type: ignore[return]
        try:
            msg = _parse_proto(raw)
        except BadRequest as e:
            self._m["grpc"].bad_request(str(e))
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        count = count_spans(msg)
        if count == 0:
            return _EMPTY_RESPONSE
        metadata = dict(context.invocation_metadata() or ()) if self.config.protocols.grpc.include_metadata else None  # type: ignore[union-attr]
        err = await self._push(Traces(msg, raw, count, metadata), "grpc")
        if err is None:
            return _EMPTY_RESPONSE
        await abort_grpc(context, err)

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
        server, port = await start_server(
            cfg,
            TRACE_SERVICE,
            {"Export": grpc.unary_unary_rpc_method_handler(self._export_grpc)},  # raw bytes
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

        async def export(request: Request) -> Response:
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
                    _json_body if as_json else _proto_body,
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
            count = count_spans(msg)
            if count:
                metadata = dict(request.headers) if cfg.include_metadata else None
                err = await receiver._push(Traces(msg, raw, count, metadata), "http")
                if err is not None:
                    failure = http_failure(err)
                    return error(failure.status, failure.code, failure.message, as_json, failure.headers)
            if as_json:
                return Response(b"{}", 200, None, _JSON)
            return Response(_EMPTY_RESPONSE, 200, None, _PROTO)

        # a plain (Starlette) route: the handler takes the Request, no FastAPI parameter injection per call
        app.add_route(
            cfg.traces_url_path,
            export,
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


FACTORY = Factory(kind="receiver", type="otlp", config_class=OTLPReceiverConfig, create=_create, stability="beta")
