"""Authentication: the ``bearertokenauth`` extension on the otlp receiver (gRPC and HTTP) and on
the OTLP exporters, config errors for bad ``auth`` references, safe defaults (CORS closed,
credentials never logged)."""

from __future__ import annotations

import gzip
import os
import secrets
import time

import grpc
import pytest
import requests
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_lite.collector.component import Component, ComponentConfig, ComponentID, ConfigError, Factory
from otel_lite.collector.config import ConfigErrors, build_config, parse_yaml
from otel_lite.collector.consumer import PermanentError
from otel_lite.collector.extensions import bearertokenauth
from otel_lite.collector.pipeline import Host
from otel_lite.collector.service import Collector
from tests.collector.conftest import free_port
from tests.collector.exporter_util import make_exporter, make_traces, metric
from tests.support.capture_collector import Running, lookup
from tests.support.collector_process import CollectorProcess
from tests.support.otlp_requests import EXPORT_METHOD

TOKEN = "tok-" + secrets.token_hex(12)
PROTO = "application/x-protobuf"


def collector_yaml(http_extra: str = "", extensions: str = "[bearertokenauth]") -> str:
    return f"""
extensions:
  bearertokenauth: {{token: "${{env:OTEL_LITE_TEST_TOKEN}}"}}
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:0", auth: {{authenticator: bearertokenauth}}}}
      http: {{endpoint: "127.0.0.1:0", max_request_body_size: 1024,
              auth: {{authenticator: bearertokenauth}}{http_extra}}}
exporters:
  capture:
service:
  extensions: {extensions}
  pipelines:
    traces: {{receivers: [otlp], exporters: [capture]}}
  telemetry: {{metrics: {{level: none}}}}
"""


@pytest.fixture
def running(loop_thread):
    r = Running(loop_thread, collector_yaml(), env={"OTEL_LITE_TEST_TOKEN": TOKEN})
    yield r
    r.stop()


def request_bytes(n: int = 2) -> bytes:
    return make_traces(n).to_bytes()


def grpc_call(target: str, payload: bytes, metadata=None):
    with grpc.insecure_channel(target) as channel:
        return channel.unary_unary(EXPORT_METHOD)(payload, metadata=metadata, timeout=5)


def grpc_code(target: str, payload: bytes, metadata=None) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        grpc_call(target, payload, metadata)
    return info.value.code(), info.value.details()


# ---------------------------------------------------------------------------
# Receiver


def test_grpc_requires_the_token(running):
    wrong = "tok-" + secrets.token_hex(12)
    assert grpc_code(running.grpc_target, request_bytes())[0] == grpc.StatusCode.UNAUTHENTICATED
    code, details = grpc_code(running.grpc_target, request_bytes(), [("authorization", f"Bearer {wrong}")])
    assert code == grpc.StatusCode.UNAUTHENTICATED and wrong not in details
    assert (
        grpc_code(running.grpc_target, request_bytes(), [("authorization", TOKEN)])[0]
        == grpc.StatusCode.UNAUTHENTICATED
    )  # the scheme is required
    grpc_call(running.grpc_target, request_bytes(3), [("authorization", f"Bearer {TOKEN}")])
    grpc_call(running.grpc_target, request_bytes(1), [("authorization", f"bearer {TOKEN}")])  # scheme: any case
    assert running.capture.span_count() == 4


def test_http_requires_the_token(running):
    wrong = "tok-" + secrets.token_hex(12)
    resp = requests.post(running.http_url, data=request_bytes(), headers={"Content-Type": PROTO}, timeout=5)
    assert resp.status_code == 401 and resp.headers["content-type"] == PROTO
    assert resp.headers["www-authenticate"] == "Bearer"
    assert status_pb2.Status.FromString(resp.content).code == code_pb2.UNAUTHENTICATED
    resp = requests.post(
        running.http_url,
        data=b"{}",
        timeout=5,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {wrong}"},
    )
    assert resp.status_code == 401 and resp.headers["content-type"] == "application/json"
    body = json_format.Parse(resp.text, status_pb2.Status())
    assert body.code == code_pb2.UNAUTHENTICATED and wrong not in resp.text
    resp = requests.post(
        running.http_url,
        data=request_bytes(3),
        timeout=5,
        headers={"Content-Type": PROTO, "Authorization": f"Bearer {TOKEN}"},
    )
    assert resp.status_code == 200
    assert running.capture.span_count() == 3


def test_auth_is_checked_before_the_body_is_read(running):
    # bodies that would be 400 (too large, a broken gzip stream, not protobuf) are 401 without a token
    bad_bodies = [
        (b"x" * 4096, {}),
        (gzip.compress(b"\xff" * 100)[:-8], {"Content-Encoding": "gzip"}),
        (b"\xff\xff\xff", {}),
    ]
    for body, extra in bad_bodies:
        resp = requests.post(running.http_url, data=body, headers={"Content-Type": PROTO, **extra}, timeout=5)
        assert resp.status_code == 401
        resp = requests.post(
            running.http_url,
            data=body,
            timeout=5,
            headers={"Content-Type": PROTO, "Authorization": f"Bearer {TOKEN}", **extra},
        )
        assert resp.status_code == 400
    assert grpc_code(running.grpc_target, b"\xff\xff\xff")[0] == grpc.StatusCode.UNAUTHENTICATED
    assert (
        grpc_code(running.grpc_target, b"\xff\xff\xff", [("authorization", f"Bearer {TOKEN}")])[0]
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    telemetry = running.collector.telemetry
    for transport, refused in (("http", 3), ("grpc", 1)):
        assert (
            metric(
                telemetry, "otelcol_receiver_requests_total", receiver="otlp", transport=transport, outcome="refused"
            )
            == refused
        )


def test_official_exporters_send_the_token(running):
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as OfficialGrpc
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as OfficialHttp

    provider = TracerProvider()
    with provider.get_tracer("auth-test").start_as_current_span("op") as span:
        pass
    header = {"authorization": f"Bearer {TOKEN}"}
    exporters = {
        "grpc ok": OfficialGrpc(endpoint=running.grpc_target, insecure=True, headers=header, timeout=5),
        "http ok": OfficialHttp(endpoint=running.http_url, headers=header, timeout=5),
        "grpc none": OfficialGrpc(endpoint=running.grpc_target, insecure=True, timeout=2),
        "http none": OfficialHttp(endpoint=running.http_url, timeout=2),
    }
    try:
        results = {name: exporter.export([span]) for name, exporter in exporters.items()}
    finally:
        for exporter in exporters.values():
            exporter.shutdown()
    assert results == {
        "grpc ok": SpanExportResult.SUCCESS,
        "http ok": SpanExportResult.SUCCESS,
        "grpc none": SpanExportResult.FAILURE,
        "http none": SpanExportResult.FAILURE,
    }
    assert running.capture.span_count() == 2


def test_cors_is_closed_unless_configured_and_preflights_need_no_token(loop_thread, running):
    preflight = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    resp = requests.options(running.http_url, headers=preflight, timeout=5)
    assert "access-control-allow-origin" not in resp.headers
    resp = requests.post(
        running.http_url,
        data=request_bytes(),
        timeout=5,
        headers={"Content-Type": PROTO, "Origin": "https://app.example", "Authorization": f"Bearer {TOKEN}"},
    )
    assert resp.status_code == 200 and "access-control-allow-origin" not in resp.headers

    cors = ", cors: {allowed_origins: ['https://app.example'], allowed_headers: [authorization, content-type]}"
    r = Running(loop_thread, collector_yaml(http_extra=cors), env={"OTEL_LITE_TEST_TOKEN": TOKEN})
    try:
        resp = requests.options(r.http_url, headers=preflight, timeout=5)
        assert resp.status_code == 200 and resp.headers["access-control-allow-origin"] == "https://app.example"
        resp = requests.post(
            r.http_url,
            data=request_bytes(),
            headers={"Content-Type": PROTO, "Origin": "https://app.example"},
            timeout=5,
        )
        assert resp.status_code == 401
        assert resp.headers["access-control-allow-origin"] == "https://app.example"  # the browser can read the 401
    finally:
        r.stop()


# ---------------------------------------------------------------------------
# Config errors


def build(text: str):
    return build_config(parse_yaml(text), lookup)


def errors_of(text: str) -> dict[str, str]:
    with pytest.raises(ConfigErrors) as info:
        build(text)
    return {e.path: e.message for e in info.value.errors}


def test_auth_reference_errors():
    text = collector_yaml()
    errors = errors_of(text.replace("{authenticator: bearertokenauth}", "{authenticator: oidc}"))
    assert "not configured" in errors["receivers.otlp.protocols.grpc.auth.authenticator"]
    assert "not configured" in errors["receivers.otlp.protocols.http.auth.authenticator"]
    errors = errors_of(collector_yaml(extensions="[]"))
    assert set(errors) == {
        "receivers.otlp.protocols.grpc.auth.authenticator",
        "receivers.otlp.protocols.http.auth.authenticator",
    }
    assert all("service.extensions" in m for m in errors.values())
    errors = errors_of(text.replace("{authenticator: bearertokenauth}", "{}"))
    assert "required" in errors["receivers.otlp.protocols.grpc.auth.authenticator"]


@pytest.mark.parametrize(
    "config, path",
    [
        ({}, "extensions.bearertokenauth"),
        ({"token": "a", "filename": "/etc/hostname"}, "extensions.bearertokenauth.filename"),
        ({"token": "a\nInjected: header"}, "extensions.bearertokenauth.token"),
        ({"tokens": ["a", ""]}, "extensions.bearertokenauth.tokens[1]"),
        ({"filename": "/nonexistent/token"}, "extensions.bearertokenauth.filename"),
        ({"token": "a", "header": "Bad Header"}, "extensions.bearertokenauth.header"),
        ({"token": "a", "scheme": "Two words"}, "extensions.bearertokenauth.scheme"),
    ],
)
def test_bearertokenauth_config_errors(config, path):
    with pytest.raises(ConfigError) as info:
        bearertokenauth.BearerTokenAuthConfig.from_mapping(config, "extensions.bearertokenauth")
    assert info.value.path == path
    assert "Injected" not in str(info.value)  # a token is never echoed


def test_an_extension_that_is_not_an_authenticator_fails_start(loop_thread):
    text = (
        collector_yaml()
        .replace("bearertokenauth: {token", "health_check: {endpoint: '127.0.0.1:0'}\n  bearertokenauth: {token")
        .replace("[bearertokenauth]", "[bearertokenauth, health_check]")
    )
    text = text.replace(
        'grpc: {endpoint: "127.0.0.1:0", auth: {authenticator: bearertokenauth}}',
        'grpc: {endpoint: "127.0.0.1:0", auth: {authenticator: health_check}}',
    )
    collector = loop_thread.call(
        Collector, build_config(parse_yaml(text.replace("${env:OTEL_LITE_TEST_TOKEN}", "x")), lookup)
    )
    with pytest.raises(ConfigError) as info:
        loop_thread.run(collector.start())
    assert info.value.path == "receivers.otlp.protocols.grpc.auth.authenticator"
    assert "not a server authenticator" in info.value.message


# ---------------------------------------------------------------------------
# The extension itself


def start_extension(loop_thread, config: dict, name: str = ""):
    ext, _ = make_exporter("bearertokenauth", config, name=name, kind="extension")
    loop_thread.run(ext.start(Host()))
    return ext


def authenticate(loop_thread, ext, value):
    from otel_lite.collector.auth import AuthError

    try:
        loop_thread.run(ext.authenticate({} if value is None else {"authorization": value}))
        return True
    except AuthError:
        return False


def test_token_file_is_reread_when_it_changes(loop_thread, tmp_path, monkeypatch):
    monkeypatch.setattr(bearertokenauth, "_RECHECK_SECONDS", 0.0)
    path = tmp_path / "token"
    path.write_text("first-token\n")
    ext = start_extension(loop_thread, {"filename": str(path)})
    assert authenticate(loop_thread, ext, "Bearer first-token")
    assert ext.headers() == {"Authorization": "Bearer first-token"}
    path.write_text("second-token-longer\n")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))
    assert not authenticate(loop_thread, ext, "Bearer first-token")
    assert authenticate(loop_thread, ext, "Bearer second-token-longer")
    assert ext.headers() == {"Authorization": "Bearer second-token-longer"}
    path.write_text("")  # an emptied file keeps the last good token
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 2_000_000_000))
    assert authenticate(loop_thread, ext, "Bearer second-token-longer")


def test_custom_header_no_scheme_and_several_tokens(loop_thread):
    ext = start_extension(loop_thread, {"tokens": ["one", "two"], "scheme": "", "header": "X-Api-Key"})
    assert ext.headers() == {"X-Api-Key": "one"}
    from otel_lite.collector.auth import AuthError

    for value, ok in (("one", True), ("two", True), ("three", False), ("Bearer one", False), ("", False)):
        try:
            loop_thread.run(ext.authenticate({"x-api-key": value}))
            assert ok, value
        except AuthError:
            assert not ok, value
    assert not authenticate(loop_thread, ext, "one")  # Authorization is not the configured header


# ---------------------------------------------------------------------------
# Exporters: the header / metadata is added, end to end against our receiver


def client_host(loop_thread, token: str) -> Host:
    host = Host()
    host.extensions[ComponentID("bearertokenauth", "client")] = start_extension(
        loop_thread, {"token": token}, name="client"
    )
    return host


def export_with_auth(loop_thread, type_: str, endpoint: str, host: Host):
    cfg = {
        "endpoint": endpoint,
        "auth": {"authenticator": "bearertokenauth/client"},
        "retry_on_failure": {"enabled": False},
        "sending_queue": {"enabled": False},
        "timeout": "5s",
    }
    if type_ == "otlp":
        cfg["tls"] = {"insecure": True}

    async def main():
        exporter, _ = make_exporter(type_, cfg)
        await exporter.start(host)
        try:
            await exporter.consume(make_traces(2))
        except PermanentError as e:
            return e
        finally:
            await exporter.shutdown()
        return None

    return loop_thread.run(main())


def test_exporters_add_the_header(loop_thread, otlp_sink):
    host = client_host(loop_thread, TOKEN)
    assert export_with_auth(loop_thread, "otlp", otlp_sink.grpc_endpoint, host) is None
    assert export_with_auth(loop_thread, "otlphttp", otlp_sink.http_endpoint, host) is None
    assert [h.get("authorization") for h in otlp_sink.request_headers] == [f"Bearer {TOKEN}"] * 2


def test_exporters_authenticate_to_our_receiver(loop_thread, running):
    good, bad = client_host(loop_thread, TOKEN), client_host(loop_thread, "not-" + TOKEN)
    assert export_with_auth(loop_thread, "otlp", running.grpc_target, good) is None
    assert export_with_auth(loop_thread, "otlphttp", running.http_url.rsplit("/v1/", 1)[0], good) is None
    assert running.capture.span_count() == 4
    # a refused token is permanent (UNAUTHENTICATED / 401 are never retried)
    assert isinstance(export_with_auth(loop_thread, "otlp", running.grpc_target, bad), PermanentError)
    assert isinstance(
        export_with_auth(loop_thread, "otlphttp", running.http_url.rsplit("/v1/", 1)[0], bad), PermanentError
    )
    assert running.capture.span_count() == 4


def test_exporter_auth_needs_a_client_authenticator(loop_thread):
    with pytest.raises(ConfigError) as info:
        export_with_auth(loop_thread, "otlp", "127.0.0.1:1", Host())
    assert info.value.path == "auth.authenticator" and "not found" in info.value.message


# ---------------------------------------------------------------------------
# Credentials never reach the logs


def test_tokens_and_header_values_are_never_logged(tmp_path):
    dead_port = free_port()
    wrong = "wrong-" + secrets.token_hex(12)
    api_key = "key-" + secrets.token_hex(12)

    def config(c):
        return f"""
extensions:
  bearertokenauth: {{token: "${{env:OTEL_LITE_TEST_TOKEN}}"}}
  bearertokenauth/client: {{token: "${{env:OTEL_LITE_TEST_TOKEN}}"}}
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{c.grpc_port}", include_metadata: true, auth: {{authenticator: bearertokenauth}}}}
      http: {{endpoint: "127.0.0.1:{c.http_port}", include_metadata: true, auth: {{authenticator: bearertokenauth}}}}
exporters:
  debug: {{verbosity: detailed}}
  otlphttp:
    endpoint: http://127.0.0.1:{dead_port}
    headers: {{x-api-key: "{api_key}"}}
    auth: {{authenticator: bearertokenauth/client}}
    retry_on_failure: {{initial_interval: 10ms, max_interval: 20ms, max_elapsed_time: 100ms}}
service:
  extensions: [bearertokenauth, bearertokenauth/client]
  pipelines:
    traces: {{receivers: [otlp], exporters: [debug, otlphttp]}}
  telemetry: {{metrics: {{level: none}}, logs: {{level: debug}}}}
"""

    c = CollectorProcess(config, str(tmp_path), env={"OTEL_LITE_TEST_TOKEN": TOKEN}, metrics=False)
    c.start(timeout=20)
    try:
        url, target = c.http_url, c.grpc_endpoint
        for value in (f"Bearer {wrong}", wrong, f"Bearer {TOKEN}"):
            resp = requests.post(
                url, data=request_bytes(), timeout=5, headers={"Content-Type": PROTO, "Authorization": value}
            )
            assert resp.status_code == (200 if value.endswith(TOKEN) else 401)
            assert TOKEN not in resp.text and wrong not in resp.text
            try:
                grpc_call(target, request_bytes(), [("authorization", value)])
            except grpc.RpcError as e:
                assert TOKEN not in (e.details() or "") and wrong not in (e.details() or "")
        time.sleep(0.3)  # the exporter fails and retries against the dead port, logging each time
    finally:
        c.term(timeout=30)
    logs = c.log()  # its stdout and stderr
    assert "Exporting failed" in logs, logs[-2000:]  # the logs were captured and are verbose
    for secret in (TOKEN, wrong, api_key):
        assert secret not in logs


def test_print_config_redacts_tokens_and_exporter_headers(tmp_path, monkeypatch, capsys):
    from otel_lite.collector.cli import main

    monkeypatch.setenv("OTEL_LITE_TEST_TOKEN", TOKEN)
    path = tmp_path / "config.yaml"
    path.write_text("""
extensions:
  bearertokenauth: {token: "${env:OTEL_LITE_TEST_TOKEN}"}
  bearertokenauth/many: {tokens: ["${env:OTEL_LITE_TEST_TOKEN}", other]}
exporters:
  otlp: {endpoint: "h:4317", headers: {x-api-key: "${env:OTEL_LITE_TEST_TOKEN}"}}
  otlphttp: {endpoint: "http://h:4318", headers: {X-Api-Key: "${env:OTEL_LITE_TEST_TOKEN}"}}
""")  # no service section: print-config still prints (and redacts) what it can
    assert main(["print-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert TOKEN not in out and "other" not in out
    assert out.count("[REDACTED]") == 5 and "endpoint: h:4317" in out


def test_tokens_are_compared_in_constant_time(loop_thread, monkeypatch):
    import hmac

    calls = []
    original = hmac.compare_digest

    def spy(a, b):
        calls.append((len(a), len(b)))
        return original(a, b)

    monkeypatch.setattr(bearertokenauth.hmac, "compare_digest", spy)
    ext = start_extension(loop_thread, {"tokens": ["short", "a-much-longer-token"]})
    assert not authenticate(loop_thread, ext, "Bearer x")
    assert authenticate(loop_thread, ext, "Bearer a-much-longer-token")
    token_calls = [c for c in calls if c[0] == 32]  # sha256 digests: equal lengths, whatever the input
    assert len(token_calls) == 4 and all(b == 32 for _, b in token_calls)


# ---------------------------------------------------------------------------
# Another authenticator type plugs in without touching the receivers


class TenantAuth(Component):
    """Accepts requests whose ``x-tenant`` header names a known tenant."""

    def __init__(self):
        self.seen = []

    async def authenticate(self, headers):
        from otel_lite.collector.auth import AuthError

        self.seen.append(headers.get("x-tenant"))
        if headers.get("x-tenant") not in ("acme", "globex"):
            raise AuthError("unknown tenant")


TENANT = Factory(
    kind="extension", type="tenantauth", config_class=ComponentConfig, create=lambda settings, config, nxt: TenantAuth()
)


def test_a_new_authenticator_type_needs_no_receiver_change(loop_thread):
    def tenant_lookup(kind, type_name):
        return TENANT if (kind, type_name) == ("extension", "tenantauth") else lookup(kind, type_name)

    text = (
        collector_yaml(extensions="[tenantauth]")
        .replace('bearertokenauth: {token: "${env:OTEL_LITE_TEST_TOKEN}"}', "tenantauth:")
        .replace("{authenticator: bearertokenauth}", "{authenticator: tenantauth}")
    )
    collector = loop_thread.call(Collector, build_config(parse_yaml(text), tenant_lookup))
    loop_thread.run(collector.start())
    try:
        receiver = collector.graph.get("receiver", "otlp")
        url = f"http://127.0.0.1:{receiver.http_port}/v1/traces"
        target = f"127.0.0.1:{receiver.grpc_port}"
        assert (
            requests.post(
                url, data=request_bytes(), headers={"Content-Type": PROTO, "X-Tenant": "acme"}, timeout=5
            ).status_code
            == 200
        )
        assert (
            requests.post(
                url, data=request_bytes(), headers={"Content-Type": PROTO, "X-Tenant": "initech"}, timeout=5
            ).status_code
            == 401
        )
        grpc_call(target, request_bytes(), [("x-tenant", "globex")])
        assert grpc_code(target, request_bytes())[0] == grpc.StatusCode.UNAUTHENTICATED
        assert collector.graph.get("extension", "tenantauth").seen == ["acme", "initech", "globex", None]
    finally:
        loop_thread.run(collector.shutdown())
