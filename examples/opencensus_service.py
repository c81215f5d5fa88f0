"""A tiny HTTP service and its client, instrumented only with OpenCensus, recorded
by otel_lite through the OpenCensus shim.

    otel-lite-collector &                          # OTLP on 127.0.0.1:4317 / 4318
    python examples/opencensus_service.py          # or: --requests 20
    OTEL_TRACES_EXPORTER=console python examples/opencensus_service.py   # no collector: print the spans

The OpenCensus code is left as it was, with its own W3C TraceContextPropagator on
both sides; the one change is ``install_shim()``, which sends its spans to otel_lite
instead of an OpenCensus exporter.  Each request gives one trace: client span ->
server span -> query span.
"""

from __future__ import annotations

import argparse
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opencensus.trace import execution_context
from opencensus.trace import span as span_module
from opencensus.trace.propagation.trace_context_http_header_format import TraceContextPropagator
from opencensus.trace.status import Status
from opencensus.trace.tracer import Tracer

import otel_lite
from otel_lite.shims.opencensus import install_shim, uninstall_shim

PROPAGATOR = TraceContextPropagator()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        # What OpenCensus web middleware does: a Tracer per request, parented on the headers.
        headers = {name.lower(): value for name, value in self.headers.items()}  # as a web framework gives them
        tracer = Tracer(span_context=PROPAGATOR.from_headers(headers), propagator=PROPAGATOR)
        with tracer.span("GET /items") as span:
            span.span_kind = span_module.SpanKind.SERVER
            span.add_attribute("http.method", "GET")
            with tracer.span("SELECT items") as query:
                query.add_annotation("rows fetched", rows=3)
            span.set_status(Status(0))
            body = b"3 items\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def call(url: str) -> str:
    tracer = execution_context.get_opencensus_tracer()
    with tracer.span("call items") as span:
        span.span_kind = span_module.SpanKind.CLIENT
        headers = PROPAGATOR.to_headers(tracer.span_context)
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
            span.add_attribute("http.status_code", response.status)
            return response.read().decode().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5)
    args = parser.parse_args()

    provider = otel_lite.configure(service_name="opencensus-service")
    install_shim(provider)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/items"
        for _ in range(args.requests):
            Tracer(propagator=PROPAGATOR)  # the client's per-request tracer
            print(call(url))
    finally:
        server.shutdown()
        server.server_close()
        uninstall_shim()
        provider.shutdown()
    print(f"sent {args.requests * 3} spans as service 'opencensus-service'")


if __name__ == "__main__":
    main()
