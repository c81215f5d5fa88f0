"""The ``jaeger`` receiver: what un-migrated jaeger-client services send, turned into OTLP.

Protocols (only those listed under ``protocols`` start, as in the Go receiver):

- ``thrift_compact`` / ``thrift_binary``: the Jaeger agent's UDP ``emitBatch`` (6831 / 6832).
  A reader thread only queues the packet (bounded by ``queue_size``; a full
  queue drops and counts it), ``workers`` threads decode and push, so a slow
  pipeline never stalls the socket reader nor the collector's loop;
- ``thrift_http``: ``POST /api/traces`` with a Thrift binary ``Batch`` (14268), optionally
  compressed (``Content-Encoding``, as Go's confighttp); 202 accepted, 400 bad content type or
  body (as Go); a pipeline error is answered as by every receiver (``receivers.errors``): 503
  retryable, 429 + Retry-After throttled, 500 permanent (Go answers 500 to all three);
- ``grpc``: api_v2 ``jaeger.api_v2.CollectorService/PostSpans`` (14250).

Thrift is decoded by thriftpy2 from the IDL in collector/legacy_proto/jaeger (compact
packets by Apache Thrift's C decoder into the same classes when it is installed);
protobuf by the modules generated into collector/legacy_proto (scripts/gen_protos.py).
Translation lives in ``jaeger_translate``. Undecodable input is rejected and
counted in ``otelcol_receiver_refused_spans`` with the transport (one span per
packet or request, since the real count is unknowable), and serving goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import thriftpy2
from google.protobuf.message import DecodeError
from thriftpy2.protocol import TCompactProtocol, TCyBinaryProtocol
from thriftpy2.transport import TCyBufferedTransport, TMemoryBuffer

from otel_lite.otlp.responses import media_type

from ..component import Component, ComponentConfig, ConfigError, Factory
from ..config import split_endpoint
from ..consumer import Traces
from ..grpc_server import GRPCServerConfig, start_server
from ..http_server import HTTPServer, HTTPServerConfig
from ..legacy_proto.jaeger.api_v2 import collector_pb2
from .errors import abort_grpc, http_failure
from .http_body import CLOSE, BadRequest, BodyNotRead, content_encoding, decode_body, read_body
from .jaeger_translate import BadInput, proto_batches_to_request, thrift_batch_to_request
from .obsreport import TransportReport

__all__ = [
    "FACTORY",
    "JaegerReceiverConfig",
    "JaegerReceiver",
    "decode_agent_packet",
    "decode_thrift_batch",
    "TRANSPORTS",
]

COLLECTOR_SERVICE = "jaeger.api_v2.CollectorService"
_IDL_DIR = Path(__file__).resolve().parent.parent / "legacy_proto" / "jaeger"
# thriftpy2 builds the Thrift classes from the IDL once per process
agent_thrift = thriftpy2.load(
    str(_IDL_DIR / "agent.thrift"), module_name="otel_lite_jaeger_agent_thrift", include_dirs=[str(_IDL_DIR)]
)
jaeger_thrift = agent_thrift.jaeger

# obsreport transport labels of the Go receiver
T_COMPACT, T_BINARY, T_HTTP, T_GRPC = "udp_thrift_compact", "udp_thrift_binary", "collector_http", "grpc"
TRANSPORTS = (T_COMPACT, T_BINARY, T_HTTP, T_GRPC)
_THRIFT_CONTENT_TYPES = ("application/x-thrift", "application/vnd.apache.thrift.binary")
_OFFLOAD_BYTES = 16 * 1024  # larger inputs are decoded in a thread so the loop keeps serving
_EMPTY_RESPONSE = collector_pb2.PostSpansResponse().SerializeToString()


# ---------------------------------------------------------------------------
# Config (names and defaults of the Go receiver; endpoints on loopback by default)


@dataclass
class UDPServerConfig(ComponentConfig):
    endpoint: str = ""
    queue_size: int = 1000
    max_packet_size: int = 65000
    workers: int = 10
    socket_buffer_size: int = 0

    def validate(self) -> None:
        split_endpoint(self.endpoint, "endpoint")
        for name in ("queue_size", "max_packet_size", "workers"):
            if getattr(self, name) <= 0:
                raise ConfigError(name, "must be positive")
        if self.socket_buffer_size < 0:
            raise ConfigError("socket_buffer_size", "must not be negative")


@dataclass
class CompactUDPConfig(UDPServerConfig):
    endpoint: str = "127.0.0.1:6831"


@dataclass
class BinaryUDPConfig(UDPServerConfig):
    endpoint: str = "127.0.0.1:6832"


@dataclass
class JaegerGRPCConfig(GRPCServerConfig):
    """configgrpc server settings (as the Go receiver), on the Jaeger collector's gRPC port."""

    endpoint: str = "127.0.0.1:14250"


@dataclass
class ThriftHTTPConfig(HTTPServerConfig):
    """confighttp server settings (as the Go receiver), on the Jaeger collector's HTTP port."""

    endpoint: str = "127.0.0.1:14268"


@dataclass
class Protocols(ComponentConfig):
    grpc: JaegerGRPCConfig | None = None
    thrift_http: ThriftHTTPConfig | None = None
    thrift_binary: BinaryUDPConfig | None = None
    thrift_compact: CompactUDPConfig | None = None


_PROTOCOL_NAMES = ("grpc", "thrift_http", "thrift_binary", "thrift_compact")


@dataclass
class JaegerReceiverConfig(ComponentConfig):
    protocols: Protocols = field(default_factory=Protocols)

    @classmethod
    def from_mapping(cls, data, path: str = ""):
        # `thrift_compact:` with no value enables the protocol with its defaults (as in the Go collector)
        if isinstance(data, dict) and isinstance(data.get("protocols"), dict):
            protocols = dict(data["protocols"])
            for name in _PROTOCOL_NAMES:
                if name in protocols and protocols[name] is None:
                    protocols[name] = {}
            data = {**data, "protocols": protocols}
        return super().from_mapping(data, path)

    def validate(self) -> None:
        if all(getattr(self.protocols, n) is None for n in _PROTOCOL_NAMES):
            raise ConfigError(
                "protocols",
                "must specify at least one protocol when using the Jaeger receiver "
                "(grpc, thrift_http, thrift_binary or thrift_compact)",
            )


# ---------------------------------------------------------------------------
# Decoding (thriftpy2; every failure becomes BadInput)

# Compact decoding: thriftpy2 has no C implementation of the compact protocol (pure Python costs
# ~50 us/span, most of the UDP path's CPU), so where Apache Thrift's C extension is installed it
# decodes into the same thriftpy2 classes, driven by a spec derived from the IDL thriftpy2 loaded.
try:
    from thrift.protocol import fastbinary as _fastbinary
    from thrift.protocol.TCompactProtocol import TCompactProtocol as _ApacheCompact
    from thrift.transport.TTransport import TMemoryBuffer as _ApacheBuffer
except ImportError:  # pragma: no cover - the pure thriftpy2 path below is used instead
    _fastbinary = None


def _apache_type(ttype: int, arg) -> tuple:
    """(ttype, type args) of Apache Thrift's thrift_spec for a thriftpy2 field type."""
    if ttype == 12:  # struct: [class, spec]
        return 12, [arg, _apache_spec(arg)]
    if ttype == 15:  # list: (element type, element args, immutable)
        elem, elem_arg = (arg[0], arg[1]) if isinstance(arg, tuple) else (arg, None)
        return 15, (*_apache_type(elem, elem_arg), False)
    if ttype == 11:
        return 11, "UTF8"
    if ttype == 18:  # thriftpy2's BINARY is a STRING on the wire, kept as bytes
        return 11, "BINARY"
    if ttype in (13, 14):
        raise TypeError("maps and sets are not used by the Jaeger IDL")
    return ttype, None  # scalars; enums are i32


_APACHE_SPECS: dict = {}


def _apache_spec(cls) -> tuple:
    spec = _APACHE_SPECS.get(cls)
    if spec is None:
        fields = [None] * (max(cls.thrift_spec) + 1)
        for fid, entry in cls.thrift_spec.items():
            ttype, args = _apache_type(entry[0], entry[2] if len(entry) == 4 else None)
            fields[fid] = (fid, ttype, entry[1], args, None)
        spec = _APACHE_SPECS[cls] = tuple(fields)
    return spec


def _read_compact_fast(data: bytes):
    # limits: nothing in a packet can be longer than the packet (no huge pre-allocation on lies)
    proto = _ApacheCompact(_ApacheBuffer(data), string_length_limit=len(data), container_length_limit=len(data))
    name, _mtype, _seqid = proto.readMessageBegin()
    if name != "emitBatch":
        raise BadInput(f"unsupported agent method {name[:64]!r} (only emitBatch)")
    args_cls = agent_thrift.Agent.emitBatch_args
    args = args_cls()
    _fastbinary.decode_compact(args, proto, [args_cls, _apache_spec(args_cls)])
    return args


def _cy_input(data: bytes):
    # Not TCyMemoryBuffer: it pads short reads silently, so truncated input would decode to garbage;
    # the buffered transport over a Python buffer raises end-of-file instead.
    return TCyBufferedTransport(TMemoryBuffer(data), buf_size=max(len(data), 1024))


def decode_agent_packet(data: bytes, compact: bool):
    """An agent UDP datagram (one ``Agent.emitBatch`` call) → Thrift ``Batch``."""
    try:
        if compact and _fastbinary is not None:
            args = _read_compact_fast(data)
        else:
            proto: Any
            if compact:
                proto = TCompactProtocol(TMemoryBuffer(data))
            else:
                proto = TCyBinaryProtocol(_cy_input(data), strict_read=False)
            name, _mtype, _seqid = proto.read_message_begin()
            if isinstance(name, bytes):
                name = name.decode("utf-8", "replace")
            if name != "emitBatch":
                raise BadInput(f"unsupported agent method {name[:64]!r} (only emitBatch)")
            args = agent_thrift.Agent.emitBatch_args()
            proto.read_struct(args)
    except BadInput:
        raise
    except Exception as e:  # thriftpy2 raises assorted errors (protocol, EOF, struct, unicode) on garbage
        raise BadInput(
            f"malformed Thrift {'compact' if compact else 'binary'} packet: {type(e).__name__}: {e}"
        ) from None
    if args.batch is None:
        raise BadInput("emitBatch without a batch")
    return args.batch


def decode_thrift_batch(body: bytes):
    """A Thrift binary-encoded ``Batch`` (thrift_http body) → ``Batch``."""
    try:
        batch = jaeger_thrift.Batch()
        TCyBinaryProtocol(_cy_input(body)).read_struct(batch)
    except Exception as e:
        raise BadInput(f"Unable to process request body: {type(e).__name__}: {e}") from None
    return batch


def _thrift_to_traces(batch) -> Traces:
    request, count = thrift_batch_to_request(batch)
    return Traces(request, None, count)


def _agent_packet_to_traces(data: bytes, compact: bool) -> Traces:
    return _thrift_to_traces(decode_agent_packet(data, compact))


def _http_body_to_traces(body: bytes) -> Traces:
    return _thrift_to_traces(decode_thrift_batch(body))


def _post_spans_to_traces(raw: bytes) -> Traces:
    try:
        req = collector_pb2.PostSpansRequest.FromString(raw)
    except DecodeError as e:
        raise BadInput(f"invalid PostSpansRequest: {e}") from None
    request, count = proto_batches_to_request((req.batch,))
    return Traces(request, None, count)


async def _decode(fn, data: bytes, *args) -> Traces:
    if len(data) < _OFFLOAD_BYTES:
        return fn(data, *args)
    return await asyncio.to_thread(fn, data, *args)


# ---------------------------------------------------------------------------
# UDP agent endpoint (the Go agent's shape: a reader, a bounded packet queue, `workers` consumers)
#
# Threads, not loop callbacks: the kernel's UDP buffer (rmem_default, ~200 KiB = a handful of
# 30-60 KB packets) overflows silently whenever the reader pauses, and the collector's loop
# does pause (exports, GC, other receivers). A blocking reader thread keeps draining the socket;
# worker threads decode and translate, then hand the batch to the pipeline on the loop. A UDP
# sender gets no answer, so workers do not wait for each push (our batch processor holds a caller
# until its batch is exported, which would cap a worker at a few packets/s), but pushes in flight
# are bounded by queue_size: a slow pipeline blocks the workers, the queue fills, and further
# packets are dropped and counted.

_STOP = object()


class _UDPServer:
    def __init__(self, receiver: JaegerReceiver, cfg: UDPServerConfig, transport_name: str, compact: bool):
        self.receiver, self.cfg, self.name, self.compact = receiver, cfg, transport_name, compact
        self.queue: queue.Queue = queue.Queue(cfg.queue_size)
        self.sock: socket.socket | None = None
        self.threads: list[threading.Thread] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port: int | None = None
        self.received_packets = 0
        self.dropped_packets = 0
        self.inflight = threading.BoundedSemaphore(cfg.queue_size)
        self.pending: set = set()  # concurrent futures of pushes in flight
        self._pending_lock = threading.Lock()

    def _read(self, sock: socket.socket) -> None:
        limit = self.cfg.max_packet_size
        while True:
            try:
                data = sock.recv(limit + 1)  # one byte more reveals an oversized datagram
            except OSError:
                return  # socket closed: stopping
            if not data and self.sock is None:
                return
            self.received_packets += 1
            if len(data) > limit:
                self.receiver.reject(self.name, f"UDP packet exceeds max_packet_size {limit}")
                continue
            try:
                self.queue.put_nowait(data)
            except queue.Full:
                self.dropped_packets += 1
                self.receiver.reject(self.name, "UDP queue full, packet dropped")

    def _work(self) -> None:
        while True:
            data = self.queue.get()
            if data is _STOP:
                return
            try:
                traces = _agent_packet_to_traces(data, self.compact)
            except BadInput as e:
                self.receiver.reject(self.name, str(e))
                continue
            except Exception:  # a bug must not kill the worker
                self.receiver.log.exception("jaeger %s worker failed on a packet", self.name)
                continue
            if not traces.span_count:
                continue
            self.inflight.acquire()
            try:  # errors are counted by push; UDP has no one to answer
                future = asyncio.run_coroutine_threadsafe(self.receiver.push(traces, self.name), self.loop)  # type: ignore[arg-type]  # set by start()
            except RuntimeError:  # the loop is gone: nothing left to deliver to
                self.inflight.release()
                return
            with self._pending_lock:
                self.pending.add(future)
            future.add_done_callback(self._pushed)

    def _post_stop_marks(self, deadline: float) -> None:
        marks = self.cfg.workers
        while marks and time.monotonic() < deadline:  # past it, stuck workers are left (daemon threads)
            try:
                self.queue.put(_STOP, timeout=max(0.05, deadline - time.monotonic()))
                marks -= 1
            except queue.Full:  # the pipeline is stuck: drop (and count) a queued packet to make room
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    continue
                if item is _STOP:
                    marks += 1  # one of ours: it goes back in
                else:
                    self.receiver.reject(self.name, "receiver stopping, queued packet dropped")

    def _pushed(self, future) -> None:
        with self._pending_lock:
            self.pending.discard(future)
        self.inflight.release()

    async def start(self) -> None:
        host, port = split_endpoint(self.cfg.endpoint, "endpoint")
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            if self.cfg.socket_buffer_size:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.cfg.socket_buffer_size)
            sock.bind((host, port))
        except OSError as e:
            sock.close()
            raise OSError(f"jaeger receiver: cannot listen on UDP {self.cfg.endpoint}: {e.strerror}") from None
        self.sock, self.port, self.loop = sock, sock.getsockname()[1], asyncio.get_running_loop()
        rid = self.receiver.settings.id
        self.threads = [
            threading.Thread(target=self._read, args=(sock,), name=f"jaeger-{rid}-{self.name}-reader", daemon=True)
        ]
        self.threads += [
            threading.Thread(target=self._work, name=f"jaeger-{rid}-{self.name}-{i}", daemon=True)
            for i in range(self.cfg.workers)
        ]
        for t in self.threads:
            t.start()
        self.receiver.log.info(
            "Jaeger agent UDP receiver listening", extra={"transport": self.name, "endpoint": f"{host}:{self.port}"}
        )

    async def stop(self) -> None:
        sock, self.sock = self.sock, None
        if sock is None:
            return
        # closing does not wake a thread blocked in recv on Linux: an empty datagram to ourselves does
        with contextlib.suppress(OSError), socket.socket(sock.family, socket.SOCK_DGRAM) as poke:
            poke.sendto(b"", sock.getsockname()[:2])
        await asyncio.to_thread(self.threads[0].join, 2)
        sock.close()
        # queued packets are still delivered (bounded by queue_size), then each worker takes a stop mark
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        await asyncio.to_thread(self._post_stop_marks, time.monotonic() + 5)
        for t in self.threads:
            await asyncio.to_thread(t.join, max(0.0, deadline - loop.time()))
        self.threads = []
        with self._pending_lock:
            pending = [asyncio.wrap_future(f) for f in self.pending]
        if pending:
            await asyncio.wait(pending, timeout=max(0.1, deadline - loop.time()))


# ---------------------------------------------------------------------------
# The receiver


class JaegerReceiver(Component):
    def __init__(self, settings, config: JaegerReceiverConfig, next_consumer):
        self.settings = settings
        self.config = config
        self.next = next_consumer
        self.log = settings.logger
        self._m = {name: TransportReport(settings, name) for name in TRANSPORTS}
        self.udp: dict[str, _UDPServer] = {}
        self._grpc_server: grpc.aio.Server | None = None
        self._http_server: HTTPServer | None = None
        self._host = None
        self.grpc_port: int | None = None
        self.http_port: int | None = None

    @property
    def compact_port(self) -> int | None:
        s = self.udp.get(T_COMPACT)
        return s.port if s else None

    @property
    def binary_port(self) -> int | None:
        s = self.udp.get(T_BINARY)
        return s.port if s else None

    # -- accounting ------------------------------------------------------------
    def reject(self, transport: str, reason: str, spans: int = 1) -> None:
        """Bad input: counted as refused (its true span count is unknown, so 1 unless given)."""
        self._m[transport].reject(reason, spans)

    async def push(self, traces: Traces, transport: str) -> BaseException | None:
        """Send to the pipeline; returns the error (already counted and logged) or None."""
        return await self._m[transport].push(self.next, traces)

    # -- gRPC ------------------------------------------------------------------
    async def _post_spans(self, raw: bytes, context: grpc.aio.ServicerContext) -> bytes:  # type: ignore[return]
        try:
            traces = await _decode(_post_spans_to_traces, raw)
        except BadInput as e:
            self.reject(T_GRPC, str(e))
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        if traces.span_count == 0:
            return _EMPTY_RESPONSE
        if self.config.protocols.grpc.include_metadata:  # type: ignore[union-attr]  # served only when configured
            traces.metadata = dict(context.invocation_metadata() or ())
        err = await self.push(traces, T_GRPC)
        if err is None:
            return _EMPTY_RESPONSE
        await abort_grpc(context, err)  # the OTLP receiver's mapping (Go answers a plain error: UNKNOWN)

    async def _start_grpc(self, cfg: JaegerGRPCConfig) -> None:
        server, port = await start_server(
            cfg,
            {COLLECTOR_SERVICE: {"PostSpans": grpc.unary_unary_rpc_method_handler(self._post_spans)}},  # raw bytes
            name="jaeger receiver",
            path=f"receivers.{self.settings.id}.protocols.grpc",
            host=self._host,
            on_auth_refused=self._m[T_GRPC].requests["refused"].inc,
        )
        self._grpc_server, self.grpc_port = server, port
        host = split_endpoint(cfg.endpoint, "endpoint")[0]
        self.log.info("Jaeger gRPC receiver listening", extra={"endpoint": f"{host}:{port}"})

    # -- thrift_http -----------------------------------------------------------
    def _http_app(self, cfg: ThriftHTTPConfig):
        from starlette.applications import Starlette
        from starlette.responses import PlainTextResponse, Response
        from starlette.routing import Route

        receiver, limit, allowed = self, cfg.max_request_body_size, set(cfg.compression_algorithms)

        def bad(message: str, status: int = 400, headers=None) -> Response:
            receiver.reject(T_HTTP, message)
            return PlainTextResponse(message + "\n", status, headers)

        async def post_traces(request) -> Response:
            ctype = media_type(request.headers.get("content-type"))
            if ctype not in _THRIFT_CONTENT_TYPES:
                return bad(f"Unsupported content type: {ctype[:100]}")
            try:
                body = await read_body(request, limit, cfg.read_timeout)
                traces = await decode_body(
                    body,
                    content_encoding(request),
                    limit,
                    _http_body_to_traces,
                    allowed=allowed,
                    offload_bytes=_OFFLOAD_BYTES,
                )
            except BodyNotRead as e:
                return bad(f"Unable to process request body: {e}", e.status, CLOSE)
            except (BadRequest, BadInput) as e:
                return bad(str(e))
            if traces.span_count:
                if cfg.include_metadata:
                    traces.metadata = dict(request.headers)
                err = await receiver.push(traces, T_HTTP)
                if err is not None:
                    failure = http_failure(err)
                    return PlainTextResponse(
                        f"Cannot submit Jaeger batch: {failure.message}\n", failure.status, failure.headers
                    )
            return Response(status_code=202)

        return Starlette(routes=[Route("/api/traces", post_traces, methods=["POST"])])

    async def _start_http(self, cfg: ThriftHTTPConfig) -> None:
        server = cfg.server(
            self._http_app(cfg),
            name=f"receiver {self.settings.id}",
            log=self.log,
            path=f"receivers.{self.settings.id}.protocols.thrift_http",
        )
        await server.start()
        self._http_server, self.http_port = server, server.port
        host = split_endpoint(cfg.endpoint, "endpoint")[0]
        self.log.info("Jaeger Thrift HTTP receiver listening", extra={"endpoint": f"{host}:{self.http_port}"})

    # -- lifecycle ---------------------------------------------------------------
    async def start(self, host) -> None:
        self._host = host  # authenticator extensions are looked up here
        p = self.config.protocols
        try:
            if p.thrift_compact is not None:
                self.udp[T_COMPACT] = _UDPServer(self, p.thrift_compact, T_COMPACT, compact=True)
                await self.udp[T_COMPACT].start()
            if p.thrift_binary is not None:
                self.udp[T_BINARY] = _UDPServer(self, p.thrift_binary, T_BINARY, compact=False)
                await self.udp[T_BINARY].start()
            if p.thrift_http is not None:
                await self._start_http(p.thrift_http)
            if p.grpc is not None:
                await self._start_grpc(p.grpc)
        except BaseException:
            await self.shutdown()
            raise

    async def shutdown(self) -> None:
        udp, self.udp = list(self.udp.values()), {}
        for server in udp:
            await server.stop()
        http_server, self._http_server = self._http_server, None
        if http_server is not None:
            await http_server.stop()
        grpc_server, self._grpc_server = self._grpc_server, None
        if grpc_server is not None:
            await grpc_server.stop(grace=5)


def _create(settings, config: JaegerReceiverConfig, next_consumer) -> JaegerReceiver:
    return JaegerReceiver(settings, config, next_consumer)


FACTORY = Factory(kind="receiver", type="jaeger", config_class=JaegerReceiverConfig, create=_create, stability="beta")
