"""OTLP trace load generator: a separate process, like the Go ``telemetrygen``.

It builds a pool of distinct ``ExportTraceServiceRequest`` payloads once
(realistic spans: 10 spans per trace, 5-10 attributes each, random ids),
then sends the pre-encoded bytes over OTLP/gRPC (grpc.aio, a generic unary
call carrying raw bytes) or OTLP/HTTP (a minimal keep-alive HTTP/1.1 client on
asyncio streams, so the generator itself stays cheap), optionally gzip.
Nothing is re-encoded per request: it rotates through the pool.

Driven over stdin/stdout, one JSON object per line, so one process (with its
payloads and connections) serves many measurement steps:

    python benchmarks/loadgen.py --transport grpc --endpoint 127.0.0.1:4317 \
        --spans-per-request 100
    < {"rate": 10000, "duration": 5}        # spans/s; "rate": null = closed loop
    > {"sent_spans": ..., "acked_spans": ..., "errors": {...}, ...}
    < {"rate": null, "duration": 5, "max_inflight": 1, "endpoint": "127.0.0.1:4327"}
                                            # one sequential sender, at another target

``max_inflight`` caps the calls in flight (closed loop: exactly that many
callers, each sending its next request as soon as the previous one is
answered); ``endpoint`` switches the target for this and later steps (the
payloads stay, so one generator can serve many systems).

On start it prints ``{"ready": true, ...}`` once the payloads are built.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import random
import sys
import time

EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
SPANS_PER_TRACE = 10
MAX_RESPONSE_HEADER = 64 * 1024
MAX_RESPONSE_BODY = 4 * 1024 * 1024
IDLE_REUSE_LIMIT = 2.0  # seconds; servers close idle keep-alive connections (uvicorn: 5 s)

_ROUTES = ("/api/orders", "/api/orders/{id}", "/api/users/{id}", "/api/cart", "/health", "/api/search")
_METHODS = ("GET", "POST", "PUT", "DELETE")
_SERVICES = ("checkout", "frontend", "cart", "payments")


# -- payloads ----------------------------------------------------------------


def build_request(rng: random.Random, spans: int, now_ns: int) -> bytes:
    """One serialized ExportTraceServiceRequest with ``spans`` spans in traces
    of SPANS_PER_TRACE spans (one resource, one scope)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

    def kv(key, value):
        if isinstance(value, bool):
            return KeyValue(key=key, value=AnyValue(bool_value=value))
        if isinstance(value, int):
            return KeyValue(key=key, value=AnyValue(int_value=value))
        if isinstance(value, float):
            return KeyValue(key=key, value=AnyValue(double_value=value))
        return KeyValue(key=key, value=AnyValue(string_value=value))

    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    service = rng.choice(_SERVICES)
    rs.resource.attributes.extend(
        [
            kv("service.name", service),
            kv("service.version", "1.4.2"),
            kv("host.name", f"node-{rng.randrange(64):02d}"),
            kv("deployment.environment", "production"),
            kv("telemetry.sdk.language", "python"),
        ]
    )
    ss = rs.scope_spans.add()
    ss.scope.name = "otel-lite.loadgen"
    ss.scope.version = "0.1.0"
    trace_id = b""
    root_id = b""
    for i in range(spans):
        pos = i % SPANS_PER_TRACE
        if pos == 0:
            trace_id = rng.randbytes(16)
        span = ss.spans.add()
        span.trace_id = trace_id
        span.span_id = rng.randbytes(8)
        if pos == 0:
            root_id = span.span_id
            span.kind = Span.SPAN_KIND_SERVER
        else:
            span.parent_span_id = root_id
            span.kind = Span.SPAN_KIND_CLIENT if pos % 3 else Span.SPAN_KIND_INTERNAL
        route = rng.choice(_ROUTES)
        method = rng.choice(_METHODS)
        span.name = f"{method} {route}" if pos == 0 else f"call-{pos}"
        start = now_ns - rng.randrange(1_000_000_000) - (SPANS_PER_TRACE - pos) * 1_000_000
        span.start_time_unix_nano = start
        span.end_time_unix_nano = start + rng.randrange(50_000, 50_000_000)
        status = 200 if rng.random() > 0.05 else 500
        attrs = [
            kv("http.request.method", method),
            kv("http.route", route),
            kv("http.response.status_code", status),
            kv("server.address", f"{service}.svc.cluster.local"),
            kv("user.id", f"u-{rng.randrange(1_000_000)}"),
        ]
        extra = rng.randrange(0, 6)  # 5..10 attributes per span
        for j in range(extra):
            attrs.append(kv(f"app.attr_{j}", rng.choice(("alpha", "beta", "gamma", 42, 3.14, True))))
        span.attributes.extend(attrs)
        if status == 500:
            span.status.code = Status.STATUS_CODE_ERROR
            span.status.message = "internal error"
    return req.SerializeToString()


def build_pool(spans_per_request: int, pool_size: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    now = time.time_ns()
    return [build_request(rng, spans_per_request, now) for _ in range(pool_size)]


def default_pool_size(spans_per_request: int) -> int:
    # Distinct trace ids matter for samplers; keep the pool to a few tens of MB.
    return max(8, min(256, 25_600 // max(1, spans_per_request)))


# -- senders -----------------------------------------------------------------


class Stats:
    __slots__ = ("sent_requests", "sent_spans", "acked_spans", "errors", "latencies", "inflight")

    def __init__(self):
        self.sent_requests = 0
        self.sent_spans = 0
        self.acked_spans = 0
        self.errors: dict[str, int] = {}
        self.latencies: list[float] = []
        self.inflight = 0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


class GrpcSender:
    def __init__(self, endpoint: str, payloads: list[bytes], use_gzip: bool, timeout: float):
        import grpc

        self._grpc = grpc
        self._channel = grpc.aio.insecure_channel(
            endpoint,
            options=[("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)],
            compression=grpc.Compression.Gzip if use_gzip else None,
        )
        # No serializers: the call carries the pre-encoded bytes as they are.
        self._export = self._channel.unary_unary(EXPORT_METHOD)
        self._payloads = payloads
        self._timeout = timeout

    async def send(self, index: int, stats: Stats, spans: int) -> None:
        t0 = time.perf_counter()
        try:
            await self._export(self._payloads[index], timeout=self._timeout)
        except self._grpc.aio.AioRpcError as exc:
            stats.error(exc.code().name)
        except Exception as exc:  # a broken channel must not stop the run
            stats.error(type(exc).__name__)
        else:
            stats.acked_spans += spans
            stats.latencies.append(time.perf_counter() - t0)

    async def close(self) -> None:
        await self._channel.close()


class _HttpConnection:
    __slots__ = ("reader", "writer")

    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer


class HttpSender:
    """Keep-alive HTTP/1.1 POSTs of pre-built request bytes (headers + body);
    one request at a time per connection, connections opened on demand."""

    def __init__(self, endpoint: str, payloads: list[bytes], use_gzip: bool, timeout: float):
        hostport = endpoint.split("://", 1)[-1].rstrip("/")
        host, _, port = hostport.rpartition(":")
        self._host, self._port = host, int(port)
        self._timeout = timeout
        self._idle: list[tuple[_HttpConnection, float]] = []
        self._requests = []
        for body in payloads:
            if use_gzip:
                body = gzip.compress(body, compresslevel=6)
            head = (
                f"POST /v1/traces HTTP/1.1\r\nHost: {hostport}\r\n"
                f"Content-Type: application/x-protobuf\r\nContent-Length: {len(body)}\r\n"
                + ("Content-Encoding: gzip\r\n" if use_gzip else "")
                + "\r\n"
            ).encode()
            self._requests.append(head + body)

    async def _connect(self) -> _HttpConnection:
        reader, writer = await asyncio.open_connection(self._host, self._port, limit=MAX_RESPONSE_HEADER)
        return _HttpConnection(reader, writer)

    async def _roundtrip(self, conn: _HttpConnection, data: bytes) -> tuple[int, bool]:
        conn.writer.write(data)
        head = await conn.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        chunked = False
        keep_alive = True
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            value = value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
            elif name == "connection" and value == "close":
                keep_alive = False
        if chunked:
            total = 0
            while True:
                size = int((await conn.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                total += size
                if total > MAX_RESPONSE_BODY:
                    raise ValueError("response body too large")
                await conn.reader.readexactly(size + 2)
                if size == 0:
                    break
        elif length:
            if length > MAX_RESPONSE_BODY:
                raise ValueError("response body too large")
            await conn.reader.readexactly(length)
        return status, keep_alive

    def _take_idle(self) -> _HttpConnection | None:
        now = time.monotonic()
        while self._idle:
            conn, since = self._idle.pop()
            if now - since < IDLE_REUSE_LIMIT:
                return conn
            conn.writer.close()  # the server may have timed it out
        return None

    async def send(self, index: int, stats: Stats, spans: int) -> None:
        t0 = time.perf_counter()
        conn = self._take_idle()
        reused = conn is not None
        while True:
            try:
                if conn is None:
                    conn = await self._connect()
                status, keep_alive = await asyncio.wait_for(self._roundtrip(conn, self._requests[index]), self._timeout)
                break
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                if conn is not None:
                    conn.writer.close()
                if reused:  # a kept-alive connection the server closed: retry once on a new one
                    reused = False
                    conn = None
                    continue
                stats.error(type(exc).__name__)
                return
            except Exception as exc:
                stats.error(type(exc).__name__)
                if conn is not None:
                    conn.writer.close()
                return
        if keep_alive:
            self._idle.append((conn, time.monotonic()))
        else:
            conn.writer.close()
        if status == 200:
            stats.acked_spans += spans
            stats.latencies.append(time.perf_counter() - t0)
        else:
            stats.error(f"HTTP_{status}")

    async def close(self) -> None:
        for conn, _ in self._idle:
            conn.writer.close()
        self._idle.clear()


# -- pacing ------------------------------------------------------------------


async def run_step(
    sender, pool_len: int, spans: int, rate: float | None, duration: float, max_inflight: int, drain_timeout: float
) -> dict:
    """Send for ``duration`` seconds at ``rate`` spans/s (None: closed loop
    with ``max_inflight`` calls always outstanding), then wait for the calls
    still in flight."""
    loop = asyncio.get_running_loop()
    stats = Stats()
    tasks: set[asyncio.Task] = set()
    cpu0 = time.process_time()
    start = loop.time()
    end = start + duration
    index = 0
    behind = 0  # loop turns where the in-flight cap stopped a due request

    slot_free = asyncio.Event()

    def done(task):
        tasks.discard(task)
        stats.inflight -= 1
        slot_free.set()

    def launch():
        nonlocal index
        stats.sent_requests += 1
        stats.sent_spans += spans
        stats.inflight += 1
        task = loop.create_task(sender.send(index, stats, spans))
        tasks.add(task)
        task.add_done_callback(done)
        index = (index + 1) % pool_len

    if rate is None:

        async def worker():
            nonlocal index
            while loop.time() < end:
                i = index
                index = (index + 1) % pool_len
                stats.sent_requests += 1
                stats.sent_spans += spans
                await sender.send(i, stats, spans)

        await asyncio.gather(*(worker() for _ in range(max_inflight)))
    else:
        interval = spans / rate
        while True:
            now = loop.time()
            if now >= end:
                break
            due = int((now - start) / interval) + 1
            capped = False
            while stats.sent_requests < due:
                if stats.inflight >= max_inflight:
                    behind += 1
                    capped = True
                    break
                launch()
            if capped:  # late: send as soon as a call completes
                slot_free.clear()
                try:
                    await asyncio.wait_for(slot_free.wait(), max(0.001, end - loop.time()))
                except TimeoutError:
                    pass
                continue
            next_due = start + stats.sent_requests * interval
            await asyncio.sleep(min(max(next_due - loop.time(), 0.0), 0.01))
    send_time = loop.time() - start
    if tasks:
        await asyncio.wait(list(tasks), timeout=drain_timeout)
    for task in list(tasks):
        task.cancel()
        stats.error("DrainTimeout")
    wall = loop.time() - start
    lat = sorted(stats.latencies)

    def pct(p):
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2) if lat else None

    return {
        "rate": rate,
        "duration": round(send_time, 3),
        "sent_requests": stats.sent_requests,
        "sent_spans": stats.sent_spans,
        "acked_spans": stats.acked_spans,
        "errors": stats.errors,
        "achieved_spans_per_s": round(stats.sent_spans / send_time, 1) if send_time > 0 else 0.0,
        "acked_spans_per_s": round(stats.acked_spans / wall, 1) if wall > 0 else 0.0,
        "behind": behind,
        "latency_ms_p50": pct(0.5),
        "latency_ms_p99": pct(0.99),
        "loadgen_cpu_pct": round(100 * (time.process_time() - cpu0) / wall, 1) if wall > 0 else 0.0,
    }


async def serve(args) -> None:
    payloads = build_pool(args.spans_per_request, args.pool_size or default_pool_size(args.spans_per_request))
    sender_cls = GrpcSender if args.transport == "grpc" else HttpSender
    sender = sender_cls(args.endpoint, payloads, args.gzip, args.timeout)
    current_endpoint = args.endpoint
    if not args.max_inflight:
        args.max_inflight = 256 if args.transport == "grpc" else 128
    out = sys.stdout
    out.write(
        json.dumps({"ready": True, "pool": len(payloads), "request_bytes": sum(map(len, payloads)) // len(payloads)})
        + "\n"
    )
    out.flush()
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            line = line.strip()
            if not line:
                continue
            try:
                cmd = json.loads(line)
                if cmd.get("quit"):
                    break
                if cmd.get("endpoint") and cmd["endpoint"] != current_endpoint:
                    await sender.close()
                    sender = sender_cls(cmd["endpoint"], payloads, args.gzip, args.timeout)
                    current_endpoint = cmd["endpoint"]
                result = await run_step(
                    sender,
                    len(payloads),
                    args.spans_per_request,
                    cmd.get("rate"),
                    float(cmd["duration"]),
                    int(cmd.get("max_inflight", args.max_inflight)),
                    float(cmd.get("drain_timeout", args.timeout)),
                )
            except Exception as exc:  # report, keep serving
                result = {"error": f"{type(exc).__name__}: {exc}"}
            out.write(json.dumps(result) + "\n")
            out.flush()
    finally:
        await sender.close()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--transport", choices=("grpc", "http"), required=True)
    p.add_argument("--endpoint", required=True, help="host:port (gRPC) or http://host:port (HTTP)")
    p.add_argument("--spans-per-request", type=int, default=100)
    p.add_argument("--pool-size", type=int, default=0, help="distinct pre-built requests (default: by size)")
    p.add_argument("--gzip", action="store_true")
    p.add_argument(
        "--max-inflight",
        type=int,
        default=0,
        help="cap on requests in flight, i.e. concurrent clients (default: gRPC 256 on one "
        "channel, HTTP 128 connections)",
    )
    p.add_argument("--timeout", type=float, default=10.0, help="per-request timeout, seconds")
    args = p.parse_args(argv)
    if args.spans_per_request < 1:
        p.error("--spans-per-request must be >= 1")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
