"""The otlp receiver over real sockets: official OTLP exporters, raw gRPC and HTTP clients,
bad input, compression, status mapping of pipeline errors, metrics."""

from __future__ import annotations

import base64
import gzip
import json
import threading
import zlib

import grpc
import pytest
import requests
import zstandard
from google.protobuf import json_format
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from prometheus_client import generate_latest

from otel_lite.collector.consumer import PermanentError, RetryableError, ThrottledError
from otel_lite.collector.receivers.http_body import BadRequest, TooLarge, decompress
from tests.support.capture_collector import BASE, Running
from tests.support.otlp_requests import EXPORT_METHOD, grpc_error, grpc_export, make_request, post

# ---------------------------------------------------------------------------
# The capturing collector (tests/support/capture_collector.py) and raw clients (tests/support/otlp_requests.py)


@pytest.fixture
def running(loop_thread):
    r = Running(loop_thread)
    yield r
    r.stop()


def status_from_trailers(err: grpc.RpcError) -> status_pb2.Status:
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            return status_pb2.Status.FromString(value)
    raise AssertionError("no grpc-status-details-bin trailer")


# ---------------------------------------------------------------------------
# Official OpenTelemetry Python exporters as clients


def _sdk_provider(exporter):
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "sdk-client", "deployment": "test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def _emit_and_check(provider, capture, transport):
    tracer = provider.get_tracer("receiver-test", "1.2")
    sent = []
    with tracer.start_as_current_span(f"parent-{transport}", attributes={"transport": transport}) as parent:
        sent.append(parent)
        for i in range(3):
            with tracer.start_as_current_span(f"child-{i}", attributes={"i": i, "ok": True}) as child:
                child.add_event("evt", {"k": "v"})
                sent.append(child)
    provider.shutdown()
    spans = {s.span_id: s for s in capture.spans()}
    assert len(spans) == 4
    for sdk_span in sent:
        ctx = sdk_span.get_span_context()
        got = spans[ctx.span_id.to_bytes(8, "big")]
        assert got.trace_id == ctx.trace_id.to_bytes(16, "big")
        assert got.name == sdk_span.name
        attrs = {a.key: json_format.MessageToDict(a.value) for a in got.attributes}
        if got.name.startswith("child"):
            assert attrs == {"i": {"intValue": str(int(got.name[-1]))}, "ok": {"boolValue": True}}
            assert got.parent_span_id == sent[0].get_span_context().span_id.to_bytes(8, "big")
            assert got.events[0].name == "evt"
        else:
            assert attrs == {"transport": {"stringValue": transport}}
    for batch in capture.batches:
        for rs in batch.message.resource_spans:
            res = {a.key: a.value.string_value for a in rs.resource.attributes}
            assert res["service.name"] == "sdk-client" and res["deployment"] == "test"
            assert rs.scope_spans[0].scope.name == "receiver-test"


def test_official_grpc_exporter(running):
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    provider = _sdk_provider(OTLPSpanExporter(endpoint=running.grpc_target, insecure=True))
    _emit_and_check(provider, running.capture, "grpc")
    # include_metadata: the client's gRPC metadata travels with the batch
    assert "user-agent" in running.capture.batches[0].metadata


def test_official_http_exporter(running):
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = _sdk_provider(OTLPSpanExporter(endpoint=running.http_url))
    _emit_and_check(provider, running.capture, "http")
    assert running.capture.batches[0].metadata["content-type"] == "application/x-protobuf"


def test_grpc_forwards_the_original_bytes(running):
    req = make_request(5)
    raw = req.SerializeToString()
    assert grpc_export(running.grpc_target, raw) == ExportTraceServiceResponse().SerializeToString()
    (batch,) = running.capture.batches
    assert batch.span_count == 5 and batch.to_bytes() == raw


# ---------------------------------------------------------------------------
# HTTP encodings and compression


def test_http_json_with_hex_ids(running):
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "js"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "s"},
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "parentSpanId": "",
                                "name": "json-span",
                                "kind": 2,
                                "startTimeUnixNano": "1544712660000000000",
                                "endTimeUnixNano": "1544712661000000000",
                                "links": [
                                    {"traceId": "5b8efff798038103d269b633813fc60d", "spanId": "eee19b7ec3c1b175"}
                                ],
                                "unknownField": {"ignored": True},
                            }
                        ],
                    }
                ],
            }
        ]
    }
    resp = post(running.http_url, json.dumps(body).encode(), "application/json")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    assert resp.json() == {}
    (span,) = running.capture.spans()
    assert span.trace_id.hex() == "5b8efff798038103d269b633813fc60c"
    assert span.span_id.hex() == "eee19b7ec3c1b174"
    assert span.links[0].trace_id.hex() == "5b8efff798038103d269b633813fc60d"
    assert span.links[0].span_id.hex() == "eee19b7ec3c1b175"
    assert span.name == "json-span" and span.kind == 2 and span.start_time_unix_nano == 1544712660000000000


@pytest.mark.parametrize("bad", ["zz8efff798038103d269b633813fc60c", "5b8efff798038103", "abc"])
def test_http_json_bad_hex_id_is_400(running, bad):
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": bad, "spanId": "eee19b7ec3c1b174"}]}]}]}
    resp = post(running.http_url, json.dumps(body).encode(), "application/json")
    assert resp.status_code == 400
    assert resp.headers["content-type"] == "application/json"
    status = resp.json()
    assert status["code"] == code_pb2.INVALID_ARGUMENT and "traceId" in status["message"]
    assert running.capture.calls == 0


@pytest.mark.parametrize(
    "encoding,compress",
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("zstd", lambda b: zstandard.ZstdCompressor().compress(b)),
    ],
)
def test_http_compressed_bodies(running, encoding, compress):
    req = make_request(4)
    resp = post(running.http_url, compress(req.SerializeToString()), **{"Content-Encoding": encoding})
    assert resp.status_code == 200, resp.content
    assert ExportTraceServiceResponse.FromString(resp.content) == ExportTraceServiceResponse()
    assert running.capture.batches[0].message == req


def test_decompress_caps_expansion():
    bomb = gzip.compress(b"\0" * (4 * 1024 * 1024))
    assert len(bomb) < 8 * 1024
    with pytest.raises(TooLarge):
        decompress(bomb, "gzip", 1024 * 1024)
    with pytest.raises(TooLarge):
        decompress(zstandard.ZstdCompressor().compress(b"\0" * (4 * 1024 * 1024)), "zstd", 1024 * 1024)
    with pytest.raises(BadRequest):
        decompress(b"not gzip", "gzip", 1024)
    # several gzip members concatenate, as Go's reader does
    assert decompress(gzip.compress(b"ab") + gzip.compress(b"cd"), "gzip", 10) == b"abcd"


# ---------------------------------------------------------------------------
# Bad input


def test_http_random_bytes_is_400_with_status(running):
    resp = post(running.http_url, b"\xff\xff\xff\x0f garbage \x01\x02")
    assert resp.status_code == 400
    assert resp.headers["content-type"] == "application/x-protobuf"
    status = status_pb2.Status.FromString(resp.content)
    assert status.code == code_pb2.INVALID_ARGUMENT and status.message
    assert running.capture.calls == 0


def test_http_wrong_content_type_is_415(running):
    resp = post(running.http_url, make_request().SerializeToString(), "text/plain")
    assert resp.status_code == 415


def test_http_non_post_is_405(running):
    assert requests.get(running.http_url, timeout=10).status_code == 405
    assert requests.put(running.http_url, data=b"", timeout=10).status_code == 405


def test_http_unknown_path_is_404(running):
    url = running.http_url.replace("/v1/traces", "/v1/metrics")
    assert post(url, make_request().SerializeToString()).status_code == 404


def test_http_oversized_body_is_refused(running):
    """A declared Content-Length over the limit is answered before the body is read. (A client
    that pushes the whole body regardless may see the connection close under it instead: the
    receiver does not read megabytes it will refuse.)"""
    import socket

    with socket.create_connection(("127.0.0.1", running.receiver.http_port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            b"Content-Length: %d\r\n\r\n" % (1024 * 1024 + 10)
        )
        response = b""
        while True:  # the head, then as much body as it declares
            head, sep, body = response.partition(b"\r\n\r\n")
            if sep:
                length = [
                    int(line.split(b":")[1])
                    for line in head.lower().split(b"\r\n")
                    if line.startswith(b"content-length:")
                ]
                if length and len(body) >= length[0]:
                    break
            chunk = sock.recv(65536)
            assert chunk, response
            response += chunk
    assert head.startswith(b"HTTP/1.1 400")
    assert b"request body too large" in body
    assert running.capture.calls == 0
    # and the receiver keeps serving
    assert post(running.http_url, make_request(1).SerializeToString()).status_code == 200


def test_gzip_bomb_is_refused_while_good_clients_are_served(running):
    bomb = gzip.compress(make_request(1, name="y" * (3 * 1024 * 1024)).SerializeToString())
    assert len(bomb) < 32 * 1024
    good = make_request(2).SerializeToString()
    good_results, errors = [], []

    def good_client():
        try:
            for _ in range(20):
                good_results.append(post(running.http_url, good).status_code)
        except Exception as e:  # surfaced below
            errors.append(e)

    t = threading.Thread(target=good_client)
    t.start()
    bomb_results = [post(running.http_url, bomb, **{"Content-Encoding": "gzip"}).status_code for _ in range(5)]
    t.join(60)
    assert not errors
    assert set(bomb_results) <= {400, 413} and bomb_results
    assert good_results == [200] * 20
    assert running.capture.calls == 20


def test_grpc_random_bytes_is_invalid_argument(running):
    err = grpc_error(running.grpc_target, b"\xff\xff\xff\x0f garbage")
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert running.capture.calls == 0


def test_grpc_oversized_message_is_resource_exhausted(running):
    big = make_request(1, name="z" * (1024 * 1024 + 10)).SerializeToString()
    err = grpc_error(running.grpc_target, big)
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert running.capture.calls == 0


def test_empty_requests_succeed_without_calling_the_pipeline(running):
    assert grpc_export(running.grpc_target, b"") == b""
    empty_rs = ExportTraceServiceRequest()
    empty_rs.resource_spans.add().scope_spans.add()
    assert grpc_export(running.grpc_target, empty_rs.SerializeToString()) == b""
    assert post(running.http_url, b"").status_code == 200
    resp = post(running.http_url, b"{}", "application/json")
    assert resp.status_code == 200 and resp.json() == {}
    assert running.capture.calls == 0


# ---------------------------------------------------------------------------
# Pipeline errors → status codes


def test_retryable_error_is_503_and_unavailable(running):
    running.capture.fail_with = [RetryableError("queue full"), RetryableError("queue full")]
    resp = post(running.http_url, make_request().SerializeToString())
    assert resp.status_code == 503
    assert status_pb2.Status.FromString(resp.content).code == code_pb2.UNAVAILABLE
    err = grpc_error(running.grpc_target, make_request().SerializeToString())
    assert err.code() == grpc.StatusCode.UNAVAILABLE and "queue full" in err.details()


def test_throttled_error_is_429_with_retry_after_and_retry_info(running):
    running.capture.fail_with = [ThrottledError("slow down", 2.5), ThrottledError("slow down", 7)]
    resp = post(running.http_url, make_request().SerializeToString())
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "3"
    err = grpc_error(running.grpc_target, make_request().SerializeToString())
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = status_from_trailers(err)
    assert status.code == code_pb2.RESOURCE_EXHAUSTED
    info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info)
    assert info.retry_delay.seconds == 7


def test_permanent_error_is_500_and_internal(running):
    running.capture.fail_with = [
        PermanentError("bad data"),
        PermanentError("bad data"),
        PermanentError("invalid", grpc_code=grpc.StatusCode.INVALID_ARGUMENT),
        PermanentError("invalid", grpc_code=grpc.StatusCode.INVALID_ARGUMENT),
    ]
    assert post(running.http_url, make_request().SerializeToString()).status_code == 500
    assert grpc_error(running.grpc_target, make_request().SerializeToString()).code() == grpc.StatusCode.INTERNAL
    assert post(running.http_url, make_request().SerializeToString()).status_code == 400
    err = grpc_error(running.grpc_target, make_request().SerializeToString())
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


def to_otlp_json(req: ExportTraceServiceRequest) -> bytes:
    """OTLP/JSON: protobuf JSON with hex ids."""
    data = json_format.MessageToDict(req)
    for rs in data.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(data).encode()


def test_json_round_trip_and_error_bodies_use_json(running):
    req = make_request(3)
    resp = post(running.http_url, to_otlp_json(req), "application/json")
    assert resp.status_code == 200
    assert running.capture.batches[0].message == req
    running.capture.fail_with = [RetryableError("later")]
    resp = post(running.http_url, to_otlp_json(req), "application/json")
    assert resp.status_code == 503
    assert resp.headers["content-type"] == "application/json"
    assert resp.json()["code"] == code_pb2.UNAVAILABLE


def test_receiver_metrics(running):
    grpc_export(running.grpc_target, make_request(3).SerializeToString())
    post(running.http_url, make_request(2).SerializeToString())
    running.capture.fail_with = [RetryableError("no")]
    post(running.http_url, make_request(4).SerializeToString())
    post(running.http_url, b"junk\xff")
    text = generate_latest(running.collector.telemetry.registry).decode()
    assert 'otelcol_receiver_accepted_spans_total{receiver="otlp",transport="grpc"} 3.0' in text
    assert 'otelcol_receiver_accepted_spans_total{receiver="otlp",transport="http"} 2.0' in text
    assert 'otelcol_receiver_refused_spans_total{receiver="otlp",transport="http"} 4.0' in text
    assert 'otelcol_receiver_requests_total{outcome="failure",receiver="otlp",transport="http"} 1.0' in text


def test_cors_preflight(loop_thread):
    text = BASE.replace(
        "include_metadata: true}\nexporters",
        "cors: {allowed_origins: ['https://app.example'], max_age: 60}}\nexporters",
    )
    r = Running(loop_thread, text)
    try:
        resp = requests.options(
            r.http_url, headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}, timeout=10
        )
        assert resp.status_code == 200
        assert resp.headers["access-control-allow-origin"] == "https://app.example"
        resp = requests.options(
            r.http_url, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}, timeout=10
        )
        assert "access-control-allow-origin" not in resp.headers
    finally:
        r.stop()


def test_config_defaults_and_validation():
    from otel_lite.collector.component import ConfigError
    from otel_lite.collector.receivers.otlp import OTLPReceiverConfig

    cfg = OTLPReceiverConfig.from_mapping({"protocols": {"grpc": None, "http": None}}, "receivers.otlp")
    assert cfg.protocols.grpc.endpoint == "127.0.0.1:4317" and cfg.protocols.grpc.max_recv_msg_size_mib == 4
    assert cfg.protocols.http.endpoint == "127.0.0.1:4318"
    assert cfg.protocols.http.max_request_body_size == 20 * 1024 * 1024
    assert cfg.protocols.http.traces_url_path == "/v1/traces"
    with pytest.raises(ConfigError) as e:
        OTLPReceiverConfig.from_mapping({}, "receivers.otlp")
    assert e.value.path == "receivers.otlp.protocols"
    with pytest.raises(ConfigError) as e:
        OTLPReceiverConfig.from_mapping({"protocols": {"grpc": {"endpoint": "nope"}}}, "receivers.otlp")
    assert e.value.path == "receivers.otlp.protocols.grpc.endpoint"
    with pytest.raises(ConfigError) as e:
        OTLPReceiverConfig.from_mapping({"protocols": {"http": {"bogus": 1}}}, "receivers.otlp")
    assert e.value.path == "receivers.otlp.protocols.http.bogus"
    cfg = OTLPReceiverConfig.from_mapping({"protocols": {"http": {"traces_url_path": "custom"}}})
    assert cfg.protocols.http.traces_url_path == "/custom"


def _self_signed(tmp_path):
    """A throwaway certificate for 127.0.0.1 (cert path, key path, PEM bytes)."""
    import datetime
    import ipaddress

    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(pem)
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path), pem


def test_tls_on_both_protocols(loop_thread, tmp_path):
    cert, key, pem = _self_signed(tmp_path)
    tls = f"tls: {{cert_file: '{cert}', key_file: '{key}'}}"
    text = BASE.replace("max_recv_msg_size_mib: 1,", f"{tls},").replace("max_request_body_size: 1048576,", f"{tls},")
    r = Running(loop_thread, text)
    try:
        creds = grpc.ssl_channel_credentials(root_certificates=pem)
        with grpc.secure_channel(r.grpc_target, creds) as channel:
            channel.unary_unary(EXPORT_METHOD)(make_request(2).SerializeToString(), timeout=10)
        url = r.http_url.replace("http://", "https://")
        resp = requests.post(
            url,
            data=make_request(3).SerializeToString(),
            verify=cert,
            headers={"Content-Type": "application/x-protobuf"},
            timeout=10,
        )
        assert resp.status_code == 200
        assert [b.span_count for b in r.capture.batches] == [2, 3]
        with pytest.raises(requests.ConnectionError):  # plain HTTP is not served on a TLS port
            post(r.http_url, make_request(1).SerializeToString())
    finally:
        r.stop()


def test_grpc_server_options_and_client_compression(loop_thread):
    text = BASE.replace(
        "max_recv_msg_size_mib: 1,",
        "max_concurrent_streams: 4, keepalive: {server_parameters: "
        "{time: 30s, timeout: 5s, max_connection_idle: 1m}, enforcement_policy: {min_time: 5s, "
        "permit_without_stream: true}},",
    )
    r = Running(loop_thread, text)
    try:
        req = make_request(6)
        with grpc.insecure_channel(r.grpc_target, compression=grpc.Compression.Gzip) as channel:
            channel.unary_unary(EXPORT_METHOD)(req.SerializeToString(), timeout=10)
        assert r.capture.batches[0].message == req
    finally:
        r.stop()
