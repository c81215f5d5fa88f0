"""OTLP trace receivers for benchmarks, each run as its own process.

Modes:
  grpc-count  grpc.aio server; parses every request with opentelemetry-proto
              and counts spans.  The downstream sink behind a collector, and
              the "raw sink" a collector's throughput is compared with.
  grpc-noop   the gRPC floor: the Export handler returns at once, no parsing.
  http-count  bare ASGI app on uvicorn: POST /v1/traces, gunzip if asked,
              parse and count.
  http-noop   the HTTP floor: bare ASGI app on uvicorn answering 200 at once
              (it still reads the body off the socket, as HTTP/1.1 requires).

    python benchmarks/sink.py --mode grpc-count --port 4317

Counters are read over stdin/stdout: write ``stats`` and a line
``{"spans": N, "requests": N, "bytes": N}`` comes back.  SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import signal
import socket
import sys
import threading

MAX_MESSAGE = 64 << 20
SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


class Counters:
    spans = 0
    requests = 0
    bytes = 0


def count_spans(data: bytes) -> int:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    req = ExportTraceServiceRequest.FromString(data)
    return sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)


def stats_loop() -> None:
    """Answer ``stats`` lines on stdin (a daemon thread; int reads are atomic)."""
    for line in sys.stdin:
        if line.strip() == "stats":
            sys.stdout.write(
                json.dumps({"spans": Counters.spans, "requests": Counters.requests, "bytes": Counters.bytes}) + "\n"
            )
            sys.stdout.flush()


async def serve_grpc(host: str, port: int, parse: bool) -> None:
    import grpc

    if parse:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        from_string = ExportTraceServiceRequest.FromString

        async def export(request: bytes, context) -> bytes:
            req = from_string(request)
            Counters.spans += sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
            Counters.requests += 1
            Counters.bytes += len(request)
            return b""  # an empty ExportTraceServiceResponse
    else:

        async def export(request: bytes, context) -> bytes:
            return b""

    server = grpc.aio.server(
        options=[("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE)]
    )
    handler = grpc.unary_unary_rpc_method_handler(export)  # raw bytes in and out
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, {"Export": handler})])
    if server.add_insecure_port(f"{host}:{port}") == 0:
        raise SystemExit(f"cannot bind {host}:{port}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print(json.dumps({"ready": True, "port": port}), flush=True)
    await stop.wait()
    await server.stop(0.5)


def make_asgi_app(parse: bool):
    ok_headers = [(b"content-type", b"application/x-protobuf"), (b"content-length", b"0")]
    not_found = [(b"content-type", b"text/plain"), (b"content-length", b"9")]

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        chunks = []
        size = 0
        while True:
            message = await receive()
            body = message.get("body", b"")
            if body:
                size += len(body)
                if size > MAX_MESSAGE:
                    await send({"type": "http.response.start", "status": 413, "headers": not_found})
                    await send({"type": "http.response.body", "body": b"too large"})
                    return
                if parse:
                    chunks.append(body)
            if not message.get("more_body", False):
                break
        if scope["path"] != "/v1/traces" or scope["method"] != "POST":
            await send({"type": "http.response.start", "status": 404, "headers": not_found})
            await send({"type": "http.response.body", "body": b"not found"})
            return
        if parse:
            data = b"".join(chunks)
            for name, value in scope["headers"]:
                if name == b"content-encoding" and value.strip().lower() == b"gzip":
                    data = gzip.decompress(data)
            Counters.spans += count_spans(data)
        Counters.requests += 1
        Counters.bytes += size
        await send({"type": "http.response.start", "status": 200, "headers": ok_headers})
        await send({"type": "http.response.body", "body": b""})

    return app


async def serve_http(host: str, port: int, parse: bool) -> None:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    config = uvicorn.Config(make_asgi_app(parse), log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    print(json.dumps({"ready": True, "port": sock.getsockname()[1]}), flush=True)
    await task  # uvicorn handles SIGTERM/SIGINT itself


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=("grpc-count", "grpc-noop", "http-count", "http-noop"), required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args(argv)
    threading.Thread(target=stats_loop, daemon=True).start()
    transport, kind = args.mode.split("-")
    serve = serve_grpc if transport == "grpc" else serve_http
    asyncio.run(serve(args.host, args.port, kind == "count"))


if __name__ == "__main__":
    main()
