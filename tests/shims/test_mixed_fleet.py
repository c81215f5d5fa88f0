"""A mixed fleet over real HTTP on 127.0.0.1, one trace end to end:

    service A: jaeger-client 4.8 (the real legacy tracer), sends ``uber-trace-id`` and ``uberctx-*``
      -> service B: OpenTracing code on the otel_lite shim, create_tracer(propagators="tracecontext,baggage,jaeger")
        -> service C: OpenTelemetry code on otel_lite, W3C tracecontext + baggage only

Each service has its own TracerProvider (its own exporter), as separate processes would; the servers
are ``http.server`` threads on free ports, stopped at the end.
"""

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import opentracing
import pytest
from opentelemetry import baggage, propagate
from opentelemetry import context as context_api
from opentelemetry.trace import SpanKind
from opentracing import Format
from opentracing.ext import tags

import otel_lite
from otel_lite.shims.opentracing import create_tracer

jaeger_client = pytest.importorskip("jaeger_client")  # in the test extra (jaeger-client==4.8.0)
from jaeger_client.reporter import InMemoryReporter  # noqa: E402
from jaeger_client.sampler import ConstSampler  # noqa: E402

TIMEOUT = 30  # seconds per HTTP call: generous for a loaded 2-core machine


def _provider(service_name):
    exporter = otel_lite.InMemorySpanExporter()
    provider = otel_lite.TracerProvider(
        resource=otel_lite.Resource.create({"service.name": service_name}), shutdown_on_exit=False
    )
    provider.add_span_processor(otel_lite.SimpleSpanProcessor(exporter))
    return provider, exporter


class _Server:
    """An HTTP server on a free port of 127.0.0.1, serving ``handle(headers) -> (dict body)`` in threads."""

    def __init__(self, handle):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                try:
                    body = json.dumps(handle(self.headers)).encode()
                    self.send_response(200)
                except Exception as exc:  # shown in the test's failure, not lost in a server thread
                    outer.errors.append(exc)
                    body = json.dumps({"error": repr(exc)}).encode()
                    self.send_response(500)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.errors: list = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name=f"fleet-{self.url}", daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=TIMEOUT)


def _get(url, headers):
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        return json.loads(response.read())


@pytest.fixture
def fleet():
    saved = propagate.get_global_textmap()
    otel_lite.set_propagators("tracecontext,baggage")  # service C knows only W3C
    servers = []
    providers = []
    try:
        yield servers, providers
    finally:
        for server in servers:
            server.stop()
        for provider in providers:
            provider.shutdown()
        propagate.set_global_textmap(saved)


def test_jaeger_client_to_opentracing_shim_to_otel_lite_is_one_trace(fleet):
    servers, providers = fleet

    # -- service C: OpenTelemetry API on otel_lite ------------------------------------------------
    c_provider, c_exporter = _provider("service-c")
    providers.append(c_provider)
    c_tracer = c_provider.get_tracer("service-c")

    def handle_c(headers):
        assert "uber-trace-id" in headers and "traceparent" in headers  # B sends both
        parent = propagate.extract(headers)
        with c_tracer.start_as_current_span("C GET /", context=parent, kind=SpanKind.SERVER):
            return {"tenant": baggage.get_baggage("tenant", parent)}

    server_c = _Server(handle_c)
    servers.append(server_c)

    # -- service B: OpenTracing code on the shim, still talking Jaeger to its callers --------------
    b_provider, b_exporter = _provider("service-b")
    providers.append(b_provider)
    b_tracer = create_tracer(b_provider, map_span_kind=True, propagators="tracecontext,baggage,jaeger")

    def handle_b(headers):
        span_ctx = b_tracer.extract(Format.HTTP_HEADERS, dict(headers.items()))
        with b_tracer.start_active_span("B GET /", child_of=span_ctx) as scope:
            scope.span.set_tag(tags.SPAN_KIND, tags.SPAN_KIND_RPC_SERVER)  # Flask-OpenTracing's way
            tenant_seen = scope.span.get_baggage_item("tenant")
            with b_tracer.start_active_span("B calls C", tags={tags.SPAN_KIND: tags.SPAN_KIND_RPC_CLIENT}) as call:
                outgoing: dict = {}
                b_tracer.inject(call.span.context, Format.HTTP_HEADERS, outgoing)
                answer = _get(server_c.url, outgoing)
        return {"tenant_in_b": tenant_seen, **answer}

    server_b = _Server(handle_b)
    servers.append(server_b)

    # -- service A: a real jaeger-client tracer -----------------------------------------------------
    reporter = InMemoryReporter()
    # (no a_tracer.close(): its tornado Future wants an event loop, and the in-memory reporter holds nothing)
    a_tracer = jaeger_client.Tracer("service-a", reporter=reporter, sampler=ConstSampler(True))
    with a_tracer.start_active_span("A calls B") as scope:
        scope.span.set_tag(tags.SPAN_KIND, tags.SPAN_KIND_RPC_CLIENT)
        scope.span.set_baggage_item("tenant", "acme")
        outgoing: dict = {}
        a_tracer.inject(scope.span.context, Format.HTTP_HEADERS, outgoing)
        assert "uber-trace-id" in outgoing and "traceparent" not in outgoing  # jaeger-client's own header
        answer = _get(server_b.url, outgoing)

    assert not server_b.errors and not server_c.errors, server_b.errors + server_c.errors
    assert answer == {"tenant_in_b": "acme", "tenant": "acme"}  # baggage crossed both hops too

    (a_span,) = reporter.get_spans()
    b_spans = {s.name: s for s in b_exporter.get_finished_spans()}
    (c_span,) = c_exporter.get_finished_spans()
    # one trace: jaeger-client's 64-bit trace id, carried as the low bits of the 128-bit W3C id
    assert {s.context.trace_id for s in (*b_spans.values(), c_span)} == {a_span.trace_id}
    # and one tree: A -> B server -> B client -> C server, each parent remote across HTTP
    b_server, b_client = b_spans["B GET /"], b_spans["B calls C"]
    assert b_server.parent.span_id == a_span.span_id and b_server.parent.is_remote
    assert b_client.parent.span_id == b_server.context.span_id and not b_client.parent.is_remote
    assert c_span.parent.span_id == b_client.context.span_id and c_span.parent.is_remote
    assert (b_server.kind, b_client.kind, c_span.kind) == (SpanKind.SERVER, SpanKind.CLIENT, SpanKind.SERVER)
    assert b_server.resource.attributes["service.name"] == "service-b"
    assert context_api.get_current() == context_api.Context()  # nothing leaked into the test's context


def test_without_the_jaeger_propagator_a_jaeger_caller_starts_a_new_trace(fleet):
    """What the README warns about: W3C-only propagators do not read ``uber-trace-id``."""
    servers, providers = fleet
    b_provider, b_exporter = _provider("service-b")
    providers.append(b_provider)
    b_tracer = create_tracer(b_provider, propagators="tracecontext,baggage")

    def handle_b(headers):
        span_ctx = b_tracer.extract(Format.HTTP_HEADERS, dict(headers.items()))
        with b_tracer.start_active_span("B GET /", child_of=span_ctx):
            return {"continued": span_ctx is not None}

    server_b = _Server(handle_b)
    servers.append(server_b)
    reporter = InMemoryReporter()
    a_tracer = jaeger_client.Tracer("service-a", reporter=reporter, sampler=ConstSampler(True))
    with a_tracer.start_active_span("A calls B") as scope:
        outgoing: dict = {}
        a_tracer.inject(scope.span.context, Format.HTTP_HEADERS, outgoing)
        answer = _get(server_b.url, outgoing)
    assert answer == {"continued": False}
    (a_span,) = reporter.get_spans()
    (b_span,) = b_exporter.get_finished_spans()
    assert b_span.parent is None and b_span.context.trace_id != a_span.trace_id
    assert isinstance(opentracing.global_tracer(), opentracing.Tracer)  # the global tracer was not touched
