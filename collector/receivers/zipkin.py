"""The ``zipkin`` receiver: Zipkin's HTTP collector API on the collector's loop (uvicorn).

``POST /api/v2/spans`` takes JSON (``application/json``) or protobuf
(``application/x-protobuf``, ``zipkin.proto3.ListOfSpans``) bodies and
``POST /api/v1/spans`` v1 JSON, optionally gzip/deflate/zstd-compressed (every
HTTP receiver's size-capped reading and decompression: ``receivers.http_body``).
Success is ``202 Accepted`` as in Zipkin's API and the Go receiver; a body that
does not parse is ``400`` with the
reason, and is counted in ``otelcol_receiver_refused_spans`` under its
transport (``http_v2_json``, ``http_v2_proto``, ``http_v1_json``: the Go
receiver's names).  Translation rules: ``zipkin_translate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from otel_lite.otlp.responses import media_type

from ..component import Component, Factory
from ..config import split_endpoint
from ..consumer import Traces, count_spans
from ..http_server import HTTPServer, HTTPServerConfig
from .errors import http_failure
from .http_body import CLOSE, BadRequest, BodyNotRead, content_encoding, decode_body, read_body
from .obsreport import TransportReport
from .zipkin_translate import ZipkinError, v1_json_to_request, v2_json_to_request, v2_proto_to_request

__all__ = ["FACTORY", "ZipkinReceiverConfig", "ZipkinReceiver"]

T_V2_JSON, T_V2_PROTO, T_V1_JSON = "http_v2_json", "http_v2_proto", "http_v1_json"
TRANSPORTS = (T_V2_JSON, T_V2_PROTO, T_V1_JSON)


@dataclass
class ZipkinReceiverConfig(HTTPServerConfig):
    """confighttp server settings (as the Go receiver, which squashes them into its config)."""

    endpoint: str = "127.0.0.1:9411"
    # parse string tags/binary annotations into int/double/bool when they read as one (Go: false)
    parse_string_tags: bool = False


def translate(body: bytes, transport: str, parse_string_tags: bool):
    """Translate a (decompressed) request body -> ExportTraceServiceRequest; raises ``ZipkinError``."""
    if transport == T_V2_PROTO:
        return v2_proto_to_request(body, parse_string_tags)
    if transport == T_V1_JSON:
        return v1_json_to_request(body, parse_string_tags)
    return v2_json_to_request(body, parse_string_tags)


class ZipkinReceiver(Component):
    def __init__(self, settings, config: ZipkinReceiverConfig, next_consumer):
        self.settings = settings
        self.config = config
        self.next = next_consumer
        self.log = settings.logger
        self._m = {name: TransportReport(settings, name) for name in TRANSPORTS}
        self._server: HTTPServer | None = None
        self.port: int | None = None

    # -- accounting ------------------------------------------------------------
    def reject(self, transport: str, reason: str, spans: int = 0) -> None:
        """Bad input: counted as refused (1 span when the body's span count is unknown)."""
        self._m[transport].reject(reason, spans)

    async def push(self, traces: Traces, transport: str) -> BaseException | None:
        return await self._m[transport].push(self.next, traces)

    # -- HTTP ------------------------------------------------------------------
    def _app(self):
        from starlette.applications import Starlette
        from starlette.responses import PlainTextResponse, Response
        from starlette.routing import Route

        receiver, cfg = self, self.config
        limit, parse, allowed = cfg.max_request_body_size, cfg.parse_string_tags, set(cfg.compression_algorithms)

        async def handle(request, v1: bool) -> Response:
            ctype = media_type(request.headers.get("content-type"))
            if v1:
                if ctype == "application/x-thrift":
                    receiver.reject(T_V1_JSON, "v1 Thrift is not supported")
                    return PlainTextResponse("Zipkin v1 Thrift is not supported; send v1 or v2 JSON\n", 415)
                transport = T_V1_JSON
            else:
                transport = T_V2_PROTO if ctype == "application/x-protobuf" else T_V2_JSON
            try:
                body = await read_body(request, limit, cfg.read_timeout)
                message = await decode_body(
                    body,
                    content_encoding(request),
                    limit,
                    partial(translate, transport=transport, parse_string_tags=parse),
                    allowed=allowed,
                )
            except BodyNotRead as e:
                receiver.reject(transport, str(e))
                return PlainTextResponse(f"{e}\n", e.status, CLOSE)
            except BadRequest as e:
                receiver.reject(transport, str(e))
                return PlainTextResponse(f"{e}\n", 400)
            except ZipkinError as e:
                receiver.reject(transport, str(e), e.spans)
                return PlainTextResponse(f"{e}\n", 400)
            count = count_spans(message)
            if count:
                metadata = dict(request.headers) if cfg.include_metadata else None
                err = await receiver.push(Traces(message, None, count, metadata), transport)
                if err is not None:
                    failure = http_failure(err)
                    return PlainTextResponse(f"{failure.message}\n", failure.status, failure.headers)
            return Response(status_code=202)

        async def v2(request):
            return await handle(request, False)

        async def v1(request):
            return await handle(request, True)

        return Starlette(
            routes=[Route("/api/v2/spans", v2, methods=["POST"]), Route("/api/v1/spans", v1, methods=["POST"])]
        )

    # -- lifecycle ---------------------------------------------------------------
    async def start(self, host) -> None:
        cfg = self.config
        server = cfg.server(
            self._app(), name=f"receiver {self.settings.id}", log=self.log, path=f"receivers.{self.settings.id}"
        )
        await server.start()
        self._server, self.port = server, server.port
        host_name = split_endpoint(cfg.endpoint, "endpoint")[0]
        self.log.info("Zipkin receiver listening", extra={"endpoint": f"{host_name}:{self.port}"})

    async def shutdown(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop()


def _create(settings, config: ZipkinReceiverConfig, next_consumer) -> ZipkinReceiver:
    return ZipkinReceiver(settings, config, next_consumer)


FACTORY = Factory(kind="receiver", type="zipkin", config_class=ZipkinReceiverConfig, create=_create, stability="beta")
