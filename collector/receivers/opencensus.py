"""The ``opencensus`` receiver: the OpenCensus agent trace service over gRPC (grpc.aio).

``opencensus.proto.agent.trace.v1.TraceService/Export`` is a bidirectional
stream an OpenCensus agent exporter keeps open: its first message must carry a
``Node`` (else the stream ends with INVALID_ARGUMENT, "protocol violation", as
the Go receiver does), and the last ``Node`` and ``Resource`` sent apply to
later messages until replaced.  Like the Go receiver, no response messages are
sent; the stream ends OK when the client half-closes.  A message that does not
parse, or that the pipeline refuses, ends the stream with the matching status
(the OTLP receiver's error mapping); bad input is counted in
``otelcol_receiver_refused_spans{transport="grpc"}``.  The unary ``ExportOne``
is served too.  Translation rules: ``opencensus_translate``.

The Go Collector removed this receiver in 2025; it stays here for services still
migrating off OpenCensus.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import grpc
from google.protobuf.message import DecodeError

from ..component import Component, Factory
from ..config import split_endpoint
from ..consumer import Traces, count_spans
from ..grpc_server import GRPCServerConfig, start_server
from ..legacy_proto.opencensus.agent.trace.v1 import trace_service_pb2
from .errors import grpc_failure
from .obsreport import TransportReport
from .opencensus_translate import resource_from_node, spans_to_request

__all__ = ["FACTORY", "OpenCensusReceiverConfig", "OpenCensusReceiver", "TRACE_SERVICE"]

TRACE_SERVICE = "opencensus.proto.agent.trace.v1.TraceService"
TRANSPORT = "grpc"
_EMPTY = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
_OFFLOAD_BYTES = 256 * 1024
STREAM_IN_FLIGHT = 64  # pushes in progress per Export stream
_Request = trace_service_pb2.ExportTraceServiceRequest


@dataclass
class OpenCensusReceiverConfig(GRPCServerConfig):
    """configgrpc server settings (as the Go receiver), on the OpenCensus agent port."""

    endpoint: str = "127.0.0.1:55678"


class _Abort(Exception):
    """Ends the call with ``context.abort(code, message, trailing_metadata)``."""

    def __init__(self, code: grpc.StatusCode, message: str, trailing_metadata: tuple = ()):
        super().__init__(message)
        self.code, self.message, self.trailing_metadata = code, message, trailing_metadata


def _translate(raw: bytes, node, resource, base):
    """Parse one stream message -> (message, node, resource, base resource, OTLP request)."""
    try:
        msg = _Request.FromString(raw)
    except DecodeError as e:
        raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"invalid ExportTraceServiceRequest: {e}") from None
    changed = False
    if msg.HasField("node"):
        node, changed = msg.node, True
    if msg.HasField("resource"):
        resource, changed = msg.resource, True
    if changed or base is None:
        base = resource_from_node(node, resource)
    return msg, node, resource, base, spans_to_request(node, resource, msg.spans, base)


class OpenCensusReceiver(Component):
    def __init__(self, settings, config: OpenCensusReceiverConfig, next_consumer):
        self.settings = settings
        self.config = config
        self.next = next_consumer
        self.log = settings.logger
        self._report = TransportReport(settings, TRANSPORT)
        self._server: grpc.aio.Server | None = None
        self._host = None
        self.port: int | None = None

    # -- accounting ------------------------------------------------------------
    def reject(self, reason: str, spans: int = 0) -> None:
        self._report.reject(reason, spans)

    async def push(self, traces: Traces) -> BaseException | None:
        return await self._report.push(self.next, traces)

    async def _consume(self, request, metadata) -> None:
        """Push one translated request; raises ``_Abort`` with the status to end the call with."""
        count = count_spans(request)
        if not count:
            return
        err = await self.push(Traces(request, None, count, metadata))
        if err is None:
            return
        raise _Abort(*grpc_failure(err))

    async def _translate(self, raw: bytes, node, resource, base):
        if len(raw) > _OFFLOAD_BYTES:  # big messages are translated off the loop
            return await asyncio.to_thread(_translate, raw, node, resource, base)
        return _translate(raw, node, resource, base)

    @staticmethod
    async def _abort(context, e: _Abort):
        await context.abort(e.code, e.message, e.trailing_metadata)

    # -- gRPC handlers -----------------------------------------------------------
    async def _export(self, request_iterator, context: grpc.aio.ServicerContext) -> None:
        """Messages are read and translated in order (node/resource carry over), and pushed
        concurrently, up to STREAM_IN_FLIGHT per stream: a pipeline that holds a push (the
        batch processor until its timeout) must not hold the whole stream."""
        metadata = dict(context.invocation_metadata() or ()) if self.config.include_metadata else None
        node = resource = base = None
        first = True
        slots = asyncio.Semaphore(STREAM_IN_FLIGHT)
        pending: set[asyncio.Task] = set()
        failure: list[_Abort] = []

        async def push(request) -> None:
            try:
                await self._consume(request, metadata)
            except _Abort as e:
                failure.append(e)
            finally:
                slots.release()

        try:
            async for raw in request_iterator:
                try:
                    msg, node, resource, base, request = await self._translate(raw, node, resource, base)
                except _Abort as e:
                    self.reject(e.message)
                    raise
                if first:
                    first = False
                    if node is None:
                        self.reject("first message without a Node", len(msg.spans))
                        raise _Abort(
                            grpc.StatusCode.INVALID_ARGUMENT,
                            "protocol violation: Export's first message must have a Node",
                        )
                if not request.resource_spans:
                    continue
                await slots.acquire()
                if failure:
                    slots.release()
                    break
                task = asyncio.create_task(push(request))
                pending.add(task)
                task.add_done_callback(pending.discard)
            if pending:  # the stream ends once what it sent was taken (or refused)
                await asyncio.gather(*pending)
            if failure:
                raise failure[0]
        except _Abort as e:
            await self._abort(context, e)

    async def _export_one(self, raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
        metadata = dict(context.invocation_metadata() or ()) if self.config.include_metadata else None
        try:
            try:
                _, _, _, _, request = await self._translate(raw, None, None, None)
            except _Abort as e:
                self.reject(e.message)
                raise
            await self._consume(request, metadata)
        except _Abort as e:
            await self._abort(context, e)
        return _EMPTY

    # -- lifecycle ---------------------------------------------------------------
    async def start(self, host) -> None:
        self._host = host
        cfg = self.config
        server, port = await start_server(
            cfg,
            {
                TRACE_SERVICE: {
                    # raw bytes in and out: messages are parsed once, in _translate
                    "Export": grpc.stream_stream_rpc_method_handler(self._export),
                    "ExportOne": grpc.unary_unary_rpc_method_handler(self._export_one),
                }
            },
            name="opencensus receiver",
            path=f"receivers.{self.settings.id}",
            host=host,
            on_auth_refused=self._report.requests["refused"].inc,
        )
        self._server, self.port = server, port
        host_name = split_endpoint(cfg.endpoint, "endpoint")[0]
        self.log.info("OpenCensus receiver listening", extra={"endpoint": f"{host_name}:{port}"})

    async def shutdown(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop(grace=5)


def _create(settings, config: OpenCensusReceiverConfig, next_consumer) -> OpenCensusReceiver:
    return OpenCensusReceiver(settings, config, next_consumer)


FACTORY = Factory(
    kind="receiver", type="opencensus", config_class=OpenCensusReceiverConfig, create=_create, stability="beta"
)
