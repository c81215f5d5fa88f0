"""otel_lite's OTLP exporters (gRPC, HTTP protobuf, HTTP JSON) against a real
OTLP receiver (tests/support/otlp_sink.py) on loopback sockets."""

from __future__ import annotations

import logging
import socket
import threading
import time

import grpc
import pytest
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.status import Status, StatusCode

import otel_lite
from otel_lite.export import SpanExportResult
from otel_lite.export.otlp_grpc import OTLPSpanExporter as GrpcExporter
from otel_lite.export.otlp_http import OTLPSpanExporter as HttpExporter
from otel_lite.export.retry import RetryPolicy
from tests.support.otlp_sink import OtlpSink

FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.05)
SLOW = RetryPolicy(initial_backoff=30)  # any retry that happens within a short deadline used the server's delay
TRANSPORTS = ["grpc", "http-proto", "http-json"]


def make_exporter(kind: str, sink, **options):
    if kind == "grpc":
        return GrpcExporter("http://" + sink.grpc_endpoint, **options)
    encoding = "json" if kind == "http-json" else "proto"
    return HttpExporter(sink.http_endpoint + "/v1/traces", encoding=encoding, **options)


def make_provider(processor, resource=None):
    provider = otel_lite.TracerProvider(
        shutdown_on_exit=False,
        sampler=otel_lite.ALWAYS_ON,
        resource=resource or otel_lite.Resource({"service.name": "exporter-test"}),
    )
    provider.add_span_processor(processor)
    return provider, provider.get_tracer("tests.exporters", "1.2.3")


def one_span(tracer, name="s"):
    with tracer.start_as_current_span(name) as span:
        pass
    return span


def free_closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def sink(otlp_sink):
    yield otlp_sink
    otlp_sink.delay = 0  # let stalled handlers finish fast before the sink closes


# -- delivery -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_batch_processor_delivers_every_span_with_its_data(kind, sink):
    exporter = make_exporter(kind, sink)
    resource = otel_lite.Resource({"service.name": "checkout", "deployment.environment": "test"})
    provider, tracer = make_provider(otel_lite.BatchSpanProcessor(exporter, schedule_delay_millis=50), resource)
    expected = {}
    with tracer.start_as_current_span("root", kind=SpanKind.SERVER, attributes={"http.method": "GET"}) as root:
        for i in range(40):
            with tracer.start_as_current_span(
                f"child-{i}",
                links=[Link(root.get_span_context(), {"l": 1})],
                attributes={"i": i, "f": 0.5, "ok": True, "tags": ("a", "b")},
            ) as s:
                s.add_event("evt", {"n": i})
                s.set_status(Status(StatusCode.ERROR, "boom"))
            expected[s.get_span_context().span_id] = s
    expected[root.get_span_context().span_id] = root
    assert provider.force_flush(10_000)
    assert sink.wait_for_spans(41, timeout=10)
    provider.shutdown()

    request = sink.requests[0]
    resource_attrs = {kv.key: kv.value.string_value for kv in request.resource_spans[0].resource.attributes}
    assert resource_attrs["service.name"] == "checkout"
    assert resource_attrs["deployment.environment"] == "test"
    scope = request.resource_spans[0].scope_spans[0].scope
    assert (scope.name, scope.version) == ("tests.exporters", "1.2.3")
    received = {int.from_bytes(span.span_id, "big"): span for span in sink.spans()}
    assert received.keys() == expected.keys()
    trace_id = root.get_span_context().trace_id
    for span_id, span in received.items():
        original = expected[span_id]
        assert int.from_bytes(span.trace_id, "big") == trace_id
        assert span.name == original.name
        assert span.start_time_unix_nano == original.start_time and span.end_time_unix_nano == original.end_time
        if span.name == "root":
            assert span.kind == 2 and not span.parent_span_id  # SPAN_KIND_SERVER
            assert span.attributes[0].key == "http.method" and span.attributes[0].value.string_value == "GET"
            continue
        assert int.from_bytes(span.parent_span_id, "big") == root.get_span_context().span_id
        attrs = {kv.key: kv.value for kv in span.attributes}
        assert attrs["i"].int_value == int(span.name.split("-")[1])
        assert attrs["f"].double_value == 0.5 and attrs["ok"].bool_value is True
        assert [v.string_value for v in attrs["tags"].array_value.values] == ["a", "b"]
        assert span.events[0].name == "evt" and span.events[0].attributes[0].value.int_value == attrs["i"].int_value
        assert int.from_bytes(span.links[0].span_id, "big") == root.get_span_context().span_id
        assert span.status.code == 2 and span.status.message == "boom"
    assert exporter.stats()["spans_exported"] == 41
    assert provider.stats()["spans_exported"] == 41


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_simple_processor_exports_each_span(kind, sink):
    exporter = make_exporter(kind, sink)
    provider, tracer = make_provider(otel_lite.SimpleSpanProcessor(exporter))
    spans = [one_span(tracer, f"s{i}") for i in range(3)]
    assert [s.name for s in sink.spans()] == ["s0", "s1", "s2"]
    assert [int.from_bytes(s.span_id, "big") for s in sink.spans()] == [s.get_span_context().span_id for s in spans]
    assert len(sink.requests) == 3
    provider.shutdown()


def test_opentelemetry_sdk_spans_export_too(sink):
    from opentelemetry.sdk.trace import TracerProvider as SdkProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor as SdkSimple

    provider = SdkProvider()
    provider.add_span_processor(SdkSimple(make_exporter("grpc", sink)))
    with provider.get_tracer("sdk").start_as_current_span("from-sdk", attributes={"a": 1}):
        pass
    assert [s.name for s in sink.spans()] == ["from-sdk"]
    provider.shutdown()


def test_empty_export_is_success_without_a_request(sink):
    for kind in TRANSPORTS:
        assert make_exporter(kind, sink).export([]) is SpanExportResult.SUCCESS
    assert sink.attempts == 0


# -- failures ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["grpc", "http-proto"])
def test_receiver_down_fails_within_the_deadline(kind, sink, caplog):
    port = free_closed_port()
    if kind == "grpc":
        exporter = GrpcExporter(f"http://127.0.0.1:{port}", timeout=0.5)
    else:
        exporter = HttpExporter(f"http://127.0.0.1:{port}/v1/traces", timeout=0.5)
    _, tracer = make_provider(otel_lite.SimpleSpanProcessor(otel_lite.InMemorySpanExporter()))
    span = one_span(tracer)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="otel_lite"):
        assert exporter.export([span]) is SpanExportResult.FAILURE
    assert time.monotonic() - started < 5  # the deadline is 0.5 s; generous for a loaded machine
    assert exporter.stats()["spans_failed"] == 1
    assert any("failed to export 1 spans" in r.getMessage() for r in caplog.records)
    exporter.shutdown()


@pytest.mark.parametrize("kind", ["grpc", "http-proto"])
def test_connection_errors_are_retried_until_the_receiver_is_up(kind):
    """The receiver starts only after the first attempt failed: the retry delivers."""
    port = free_closed_port()
    endpoint = f"http://127.0.0.1:{port}" + ("" if kind == "grpc" else "/v1/traces")
    exporter = (GrpcExporter if kind == "grpc" else HttpExporter)(
        endpoint, timeout=20, retry_policy=RetryPolicy(initial_backoff=0.2, max_backoff=0.5)
    )
    _, tracer = make_provider(otel_lite.SimpleSpanProcessor(otel_lite.InMemorySpanExporter()))
    span = one_span(tracer)
    result = []
    worker = threading.Thread(target=lambda: result.append(exporter.export([span])))
    worker.start()
    time.sleep(0.1)
    # a real receiver on that exact port
    with OtlpSink(grpc=kind == "grpc", http=kind != "grpc", grpc_port=port, http_port=port) as sink:
        worker.join(20)
        assert len(sink.requests) == 1
    assert result == [SpanExportResult.SUCCESS]
    assert exporter.stats()["retries"] >= 1
    exporter.shutdown()


@pytest.mark.parametrize("kind", ["grpc", "http-proto"])
def test_slow_receiver_fails_near_the_deadline(kind, sink):
    exporter = make_exporter(kind, sink, timeout=0.3, retry_policy=FAST)
    sink.delay = 3.0
    _, tracer = make_provider(otel_lite.SimpleSpanProcessor(otel_lite.InMemorySpanExporter()))
    span = one_span(tracer)
    started = time.monotonic()
    assert exporter.export([span]) is SpanExportResult.FAILURE
    assert time.monotonic() - started < 2.9  # returned at its deadline, not when the receiver answered
    exporter.shutdown()


@pytest.mark.parametrize("kind", ["grpc", "http-proto"])
def test_batch_processor_export_timeout_caps_the_exporter_timeout(kind, sink):
    exporter = make_exporter(kind, sink, timeout=30, retry_policy=FAST)
    sink.delay = 3.0
    processor = otel_lite.BatchSpanProcessor(exporter, schedule_delay_millis=10, export_timeout_millis=200)
    provider, tracer = make_provider(processor)
    one_span(tracer)
    started = time.monotonic()
    assert provider.force_flush(10_000)
    assert time.monotonic() - started < 2.9  # the 0.2 s export timeout, not the exporter's 30 s
    assert provider.stats()["spans_export_failed"] == 1
    provider.shutdown()


@pytest.mark.parametrize("kind", ["grpc", "http-proto", "http-json"])
def test_transient_failures_are_retried_and_delivered_once(kind, sink):
    exporter = make_exporter(kind, sink, timeout=10, retry_policy=FAST)
    sink.fail_next(2)  # gRPC UNAVAILABLE / HTTP 503
    _, tracer = make_provider(otel_lite.SimpleSpanProcessor(exporter))
    one_span(tracer, "retried")
    assert sink.attempts == 3
    assert [s.name for s in sink.spans()] == ["retried"]
    assert exporter.stats()["retries"] == 2 and exporter.stats()["spans_exported"] == 1


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.INTERNAL,
    ],
)
def test_grpc_final_errors_are_not_retried(code, sink):
    exporter = make_exporter("grpc", sink, timeout=10, retry_policy=FAST)
    sink.fail_next(1, grpc_code=code)
    _, tracer = make_provider(otel_lite.SimpleSpanProcessor(otel_lite.InMemorySpanExporter()))
    assert exporter.export([one_span(tracer)]) is SpanExportResult.FAILURE
    assert sink.attempts == 1 and not sink.requests


def test_grpc_resource_exhausted_with_retry_info_waits_the_servers_delay(sink):
    exporter = make_exporter("grpc", sink, timeout=5, retry_policy=SLOW)
    sink.fail_next(1, grpc_code=grpc.StatusCode.RESOURCE_EXHAUSTED, retry_after=0.2)
    _, tracer = make_provider(otel_lite.SimpleSpanProcessor(otel_lite.InMemorySpanExporter()))
    started = time.monotonic()
    assert exporter.export([one_span(tracer)]) is SpanExportResult.SUCCESS
    assert time.monotonic() - started >= 0.19
    assert sink.attempts == 2 and len(sink.requests) == 1


def test_grpc_unavailable_with_retry_info_past_the_deadline_gives_up_at_once(sink):
    exporter = make_exporter("grpc", sink, timeout=2, retry_policy=FAST)
    sink.fail_next(1, retry_after=60)
    _, tracer = make_provider(otel_lite.SimpleSpanProcessor(otel_lite.InMemorySpanExporter()))
    started = time.monotonic()
    assert exporter.export([one_span(tracer)]) is SpanExportResult.FAILURE
    assert sink.attempts == 1
    assert time.monotonic() - started < 10  # did not wait the server's 60 s


@pytest.mark.parametrize("status", [429, 503])
def test_http_retry_after_is_honoured(status, sink):
    exporter = make_exporter("http-proto", sink, timeout=5, retry_policy=SLOW)
    sink.fail_next(1, http_status=status, retry_after=1)
    _, tracer = make_provider(otel_lite.SimpleSpanProcessor(otel_lite.InMemorySpanExporter()))
    started = time.monotonic()
    assert exporter.export([one_span(tracer)]) is SpanExportResult.SUCCESS
    assert time.monotonic() - started >= 0.95
    assert sink.attempts == 2 and len(sink.requests) == 1


@pytest.mark.parametrize("status", [400, 401, 404, 413, 500])
def test_http_final_statuses_are_not_retried(status, sink, caplog):
    exporter = make_exporter("http-proto", sink, timeout=5, retry_policy=FAST)
    sink.fail_next(1, http_status=status)
    _, tracer = make_provider(otel_lite.SimpleSpanProcessor(otel_lite.InMemorySpanExporter()))
    with caplog.at_level(logging.WARNING, logger="otel_lite"):
        assert exporter.export([one_span(tracer)]) is SpanExportResult.FAILURE
    assert sink.attempts == 1
    # the google.rpc.Status body's message is in the log
    assert any(f"HTTP {status}: sink told to fail" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_partial_success_is_logged_and_counted_not_retried(kind, sink, caplog):
    exporter = make_exporter(kind, sink, retry_policy=FAST)
    sink.partial_success = (2, "2 spans too old")
    _, tracer = make_provider(otel_lite.SimpleSpanProcessor(otel_lite.InMemorySpanExporter()))
    spans = [one_span(tracer, f"s{i}") for i in range(5)]
    with caplog.at_level(logging.WARNING, logger="otel_lite"):
        assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert sink.attempts == 1
    stats = exporter.stats()
    assert stats["partial_success_rejected"] == 2 and stats["partial_success_responses"] == 1
    assert stats["spans_exported"] == 3 and stats["spans_failed"] == 2
    assert any("2 of 5 spans rejected: 2 spans too old" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("kind", ["grpc", "http-proto"])
def test_shutdown_aborts_a_retry_wait_promptly(kind, sink):
    exporter = make_exporter(kind, sink, timeout=60, retry_policy=RetryPolicy(initial_backoff=30, jitter=0))
    sink.fail_next(5)
    _, tracer = make_provider(otel_lite.SimpleSpanProcessor(otel_lite.InMemorySpanExporter()))
    span = one_span(tracer)
    result = []
    worker = threading.Thread(target=lambda: result.append(exporter.export([span])))
    worker.start()
    deadline = time.monotonic() + 10
    while sink.attempts < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    exporter.shutdown()
    worker.join(10)
    assert not worker.is_alive() and result == [SpanExportResult.FAILURE]
    assert sink.attempts == 1
    assert exporter.export([span]) is SpanExportResult.FAILURE  # after shutdown: refused, not raised
    exporter.shutdown()  # twice is harmless
    assert exporter.force_flush() is True


@pytest.mark.parametrize("kind", ["grpc", "http-proto"])
def test_provider_shutdown_deadline_holds_while_the_exporter_retries(kind):
    """Receiver down, long export timeout: shutdown returns at its deadline and
    the exporter's retry loop is aborted (the worker thread ends)."""
    port = free_closed_port()
    policy = RetryPolicy(initial_backoff=0.2, max_backoff=0.5)
    if kind == "grpc":
        exporter = GrpcExporter(f"http://127.0.0.1:{port}", timeout=60, retry_policy=policy)
    else:
        exporter = HttpExporter(f"http://127.0.0.1:{port}/v1/traces", timeout=60, retry_policy=policy)
    processor = otel_lite.BatchSpanProcessor(exporter, schedule_delay_millis=10)
    provider, tracer = make_provider(processor)
    one_span(tracer)
    deadline = time.monotonic() + 10
    while exporter.stats()["requests"] == 0 and processor._queue and time.monotonic() < deadline:
        time.sleep(0.01)  # the worker has taken the batch and is retrying
    started = time.monotonic()
    assert provider.shutdown(300) is False  # could not deliver in time
    assert time.monotonic() - started < 5
    processor._worker.join(10)
    assert not processor._worker.is_alive()
    assert exporter.stats()["spans_failed"] == 1


# -- compression and headers ----------------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["gzip", "deflate"])
def test_http_compression(compression, sink):
    exporter = make_exporter("http-proto", sink, compression=compression)
    _, tracer = make_provider(otel_lite.SimpleSpanProcessor(exporter))
    one_span(tracer, "compressed")
    assert sink.request_headers[0]["content-encoding"] == compression
    assert [s.name for s in sink.spans()] == ["compressed"]


class ByteCountingProxy:
    """A TCP relay that counts the bytes the client sends (to see gRPC compression on the wire)."""

    def __init__(self, target_port: int):
        self.sent = 0
        self._target = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._target))
            self._sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source, dest, count):
        try:
            while data := source.recv(65536):
                if count:
                    self.sent += len(data)
                dest.sendall(data)
        except OSError:
            pass

    def close(self):
        self._listener.close()
        for sock in self._sockets:
            try:
                sock.close()
            except OSError:
                pass


@pytest.mark.parametrize("compression", [None, "gzip", grpc.Compression.Gzip])
def test_grpc_compression_on_the_wire(compression, sink):
    proxy = ByteCountingProxy(int(sink.grpc_endpoint.rsplit(":", 1)[1]))
    try:
        exporter = GrpcExporter(f"http://127.0.0.1:{proxy.port}", compression=compression)
        _, tracer = make_provider(otel_lite.SimpleSpanProcessor(exporter))
        with tracer.start_as_current_span("big", attributes={"blob": "x" * 200_000}):
            pass
        assert sink.spans()[0].attributes[0].value.string_value == "x" * 200_000
        if compression is None:
            assert proxy.sent > 200_000
        else:
            assert proxy.sent < 50_000
        exporter.shutdown()
    finally:
        proxy.close()


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_headers_from_arguments(kind, sink):
    exporter = make_exporter(kind, sink, headers={"X-Api-Key": "secret", "tenant": "a b"})
    _, tracer = make_provider(otel_lite.SimpleSpanProcessor(exporter))
    one_span(tracer)
    headers = sink.request_headers[0]
    assert headers["x-api-key"] == "secret" and headers["tenant"] == "a b"
    assert headers["user-agent"].startswith("OTel-OTLP-Exporter-Python-otel-lite/")


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_headers_from_the_environment_are_percent_decoded(kind, sink, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=s%3Dcret%2C1,Authorization=Bearer%20tok")
    exporter = make_exporter(kind, sink)
    _, tracer = make_provider(otel_lite.SimpleSpanProcessor(exporter))
    one_span(tracer)
    headers = sink.request_headers[0]
    assert headers["x-api-key"] == "s=cret,1" and headers["authorization"] == "Bearer tok"


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_oversized_batch_is_split_not_dropped(kind, sink):
    exporter = make_exporter(kind, sink, max_request_size=2000)
    _, tracer = make_provider(otel_lite.SimpleSpanProcessor(otel_lite.InMemorySpanExporter()))
    spans = [one_span(tracer, f"span-{i}") for i in range(40)]
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert sorted(s.name for s in sink.spans()) == sorted(f"span-{i}" for i in range(40))
    assert len(sink.requests) > 1
    assert exporter.stats()["spans_exported"] == 40


def test_exporters_never_raise_on_unencodable_input(sink):
    for kind in TRANSPORTS:
        exporter = make_exporter(kind, sink, retry_policy=FAST)
        assert exporter.export([object()]) in (SpanExportResult.SUCCESS, SpanExportResult.FAILURE)


@pytest.mark.parametrize("session_kind", ["urllib3", "requests"])
def test_http_exporter_with_a_given_session(session_kind, sink):
    import urllib3

    if session_kind == "requests":
        requests = pytest.importorskip("requests")
        session = requests.Session()
    else:
        session = urllib3.PoolManager()
    exporter = HttpExporter(sink.http_endpoint + "/v1/traces", session=session, timeout=5, retry_policy=FAST)
    sink.fail_next(1, http_status=503)
    sink.partial_success = (1, "one rejected")
    _, tracer = make_provider(otel_lite.SimpleSpanProcessor(otel_lite.InMemorySpanExporter()))
    spans = [one_span(tracer, "a"), one_span(tracer, "b")]
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert sink.attempts == 2 and [s.name for s in sink.spans()] == ["a", "b"]
    assert exporter.stats()["partial_success_rejected"] == 1
    sink.fail_next(1, http_status=400)
    assert exporter.export(spans) is SpanExportResult.FAILURE and sink.attempts == 3
    exporter.shutdown()
    session.close() if session_kind == "requests" else session.clear()
    down = HttpExporter(f"http://127.0.0.1:{free_closed_port()}/v1/traces", session=session, timeout=0.3)
    assert down.export(spans) is SpanExportResult.FAILURE  # connection refused: retried, not raised


# -- TLS ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """A throw-away CA, a server certificate for 127.0.0.1/localhost and a client certificate (PEM files)."""
    pytest.importorskip("cryptography")
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.UTC)

    def write_key(name, key):
        (directory / name).write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )

    def build(subject, issuer, public_key, signing_key, ca=False, sans=None, usage=None):
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        if usage:
            builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        return builder.sign(signing_key, hashes.SHA256())

    def name(common_name):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = build(name("otel-lite test CA"), name("otel-lite test CA"), ca_key.public_key(), ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = build(
        name("localhost"),
        ca_cert.subject,
        server_key.public_key(),
        ca_key,
        sans=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client_cert = build(
        name("client"), ca_cert.subject, client_key.public_key(), ca_key, usage=ExtendedKeyUsageOID.CLIENT_AUTH
    )
    for file_name, cert in (("ca.pem", ca_cert), ("server.pem", server_cert), ("client.pem", client_cert)):
        (directory / file_name).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    write_key("server.key", server_key)
    write_key("client.key", client_key)
    return {name: str(directory / name) for name in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")}


@pytest.fixture
def tls_receivers(tls_files):
    """A gRPC and an HTTPS OTLP receiver that require a client certificate signed by the test CA."""
    import ssl
    from concurrent import futures
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    received = []

    def read(name):
        with open(tls_files[name], "rb") as handle:
            return handle.read()

    class Service(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request, context):
            received.append(request)
            return trace_service_pb2.ExportTraceServiceResponse()

    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), grpc_server)
    credentials = grpc.ssl_server_credentials(
        [(read("server.key"), read("server.pem"))], root_certificates=read("ca.pem"), require_client_auth=True
    )
    grpc_port = grpc_server.add_secure_port("127.0.0.1:0", credentials)
    grpc_server.start()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(trace_service_pb2.ExportTraceServiceRequest.FromString(body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files["server.pem"], tls_files["server.key"])
    context.load_verify_locations(tls_files["ca.pem"])
    context.verify_mode = ssl.CERT_REQUIRED
    http_server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    http_server.daemon_threads = True
    http_server.socket = context.wrap_socket(http_server.socket, server_side=True)
    threading.Thread(target=http_server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield {
        "grpc": f"https://127.0.0.1:{grpc_port}",
        "http": f"https://127.0.0.1:{http_server.server_address[1]}",
        "received": received,
    }
    grpc_server.stop(None)
    http_server.shutdown()
    http_server.server_close()


@pytest.mark.parametrize("kind", ["grpc", "http"])
def test_mutual_tls_from_arguments_and_environment(kind, tls_files, tls_receivers, monkeypatch):
    exporter_class = GrpcExporter if kind == "grpc" else HttpExporter
    endpoint = tls_receivers[kind] + ("" if kind == "grpc" else "/v1/traces")
    _, tracer = make_provider(otel_lite.SimpleSpanProcessor(otel_lite.InMemorySpanExporter()))
    span = one_span(tracer, "over-tls")
    # from arguments
    exporter = exporter_class(
        endpoint,
        certificate_file=tls_files["ca.pem"],
        client_key_file=tls_files["client.key"],
        client_certificate_file=tls_files["client.pem"],
        timeout=5,
        retry_policy=FAST,
    )
    assert exporter.export([span]) is SpanExportResult.SUCCESS
    exporter.shutdown()
    # from the environment (the signal-specific names)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", tls_files["ca.pem"])
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", tls_files["client.key"])
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", tls_files["client.pem"])
    exporter = exporter_class(endpoint, timeout=5, retry_policy=FAST)
    assert exporter.export([span]) is SpanExportResult.SUCCESS
    exporter.shutdown()
    assert [
        s.name for r in tls_receivers["received"] for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans
    ] == ["over-tls", "over-tls"]
    # without the client certificate the server refuses: a failure, not an exception
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY")
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE")
    exporter = exporter_class(endpoint, timeout=0.5, retry_policy=FAST)
    assert exporter.export([span]) is SpanExportResult.FAILURE
    exporter.shutdown()
    assert len(tls_receivers["received"]) == 2


# -- one export loop over a transport ---------------------------------------------------------------------


class FakeTransport:
    """An OTLPTransport answering from a script: each send pops the next Attempt (default: success)."""

    kind, name, where, max_request_size = "fake", "OTLP fake exporter", "fake:0", 100

    def __init__(self, answers=()):
        self.answers = list(answers)
        self.sent: list[bytes] = []
        self.closed = False

    def encode(self, spans):
        return b"".join(s.encode() for s in spans)  # "spans" are str here: 1 byte each

    def prepare(self, body):
        return b"<" + body + b">"

    def send(self, body, seconds_left):
        from otel_lite.export.retry import Attempt

        self.sent.append(body)
        return self.answers.pop(0) if self.answers else Attempt(True)

    def close(self):
        self.closed = True


def test_export_loop_splits_retries_and_counts_over_any_transport():
    from otel_lite.export._otlp_common import OTLPExporter
    from otel_lite.export.retry import Attempt
    from otel_lite.otlp.responses import PartialSuccess

    transport = FakeTransport(
        [
            Attempt(False, retryable=True, server_delay=0),
            Attempt(True),
            Attempt(True, value=PartialSuccess(1, "one too old")),
        ]
    )
    exporter = OTLPExporter(transport, timeout=5, retry_policy=FAST, max_request_size=4)
    assert exporter.export(list("abcdefg")) is SpanExportResult.SUCCESS  # 7 bytes > 4: halves of 3 and 4
    assert transport.sent == [b"<abc>", b"<abc>", b"<defg>"]  # prepared once, the first retried once
    assert exporter.stats() == {
        "spans_exported": 6,
        "spans_failed": 1,
        "partial_success_rejected": 1,
        "partial_success_responses": 1,
        "requests": 3,
        "retries": 1,
    }
    transport.answers = [Attempt(False, reason="bad request", kind="status_400")]
    assert exporter.export(["x"]) is SpanExportResult.FAILURE and exporter.stats()["spans_failed"] == 2
    assert exporter.export(["too big"]) is SpanExportResult.FAILURE  # one span over the limit: dropped
    assert transport.sent[-1] == b"<x>" and exporter.stats()["spans_failed"] == 3
    assert OTLPExporter(FakeTransport())._max_request_size == FakeTransport.max_request_size
    exporter.shutdown()
    assert transport.closed and exporter.export(["y"]) is SpanExportResult.FAILURE


def test_grpc_splits_at_the_receivers_default_limit():
    exporter = GrpcExporter("http://127.0.0.1:1")
    assert exporter._max_request_size == 4 * 1024 * 1024 == exporter.transport.max_request_size
    assert HttpExporter()._max_request_size == 64 * 1024 * 1024
    exporter.shutdown()
