"""A tiny HTTP service and its client, instrumented only with the OpenTracing API,
recorded by otel_lite through the OpenTracing shim.

    otel-lite-collector &                          # OTLP on 127.0.0.1:4317 / 4318
    python examples/opentracing_service.py         # or: --requests 20
    OTEL_TRACES_EXPORTER=console python examples/opentracing_service.py   # no collector: print the spans

The server listens on a free 127.0.0.1 port; the client's span context and baggage
travel in the HTTP headers (W3C traceparent + baggage by default, or whatever
OTEL_PROPAGATORS says, e.g. OTEL_PROPAGATORS=b3multi or jaeger).  Each request gives
one trace: client span -> server span -> render span.
"""

from __future__ import annotations

import argparse
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import opentracing
from opentracing import Format
from opentracing.ext import tags

import otel_lite
from otel_lite.shims.opentracing import create_tracer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        tracer = opentracing.global_tracer()
        parent = tracer.extract(Format.HTTP_HEADERS, dict(self.headers))
        with tracer.start_active_span(
            "GET /hello",
            child_of=parent,
            tags={tags.SPAN_KIND: tags.SPAN_KIND_RPC_SERVER, tags.HTTP_METHOD: "GET", tags.HTTP_URL: self.path},
        ) as scope:
            user = scope.span.get_baggage_item("user") or "stranger"
            with tracer.start_active_span("render") as render:
                body = f"hello, {user}\n".encode()
                render.span.log_kv({"event": "rendered", "bytes": len(body)})
            scope.span.set_tag(tags.HTTP_STATUS_CODE, 200)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep the example's output short
        pass


def call(url: str, user: str) -> str:
    tracer = opentracing.global_tracer()
    with tracer.start_active_span("call hello", tags={tags.SPAN_KIND: tags.SPAN_KIND_RPC_CLIENT}) as scope:
        scope.span.set_baggage_item("user", user)
        headers: dict = {}
        tracer.inject(scope.span.context, Format.HTTP_HEADERS, headers)
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
            return response.read().decode().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5)
    args = parser.parse_args()

    provider = otel_lite.configure(service_name="opentracing-service")
    opentracing.set_global_tracer(create_tracer(provider, map_span_kind=True))
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hello"
        for i in range(args.requests):
            print(call(url, f"user{i}"))
    finally:
        server.shutdown()
        server.server_close()
        provider.shutdown()  # flushes the spans to the collector
    print(f"sent {args.requests * 3} spans as service 'opentracing-service'")


if __name__ == "__main__":
    main()
