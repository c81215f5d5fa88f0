"""TLS and mutual TLS: the otlp receiver (both protocols) with real clients (the official
OpenTelemetry exporters, otel_lite's exporters, raw gRPC/HTTP clients), the collector's OTLP
exporters against a TLS sink, and the validation of every ``tls`` key."""

from __future__ import annotations

import ssl
from pathlib import Path

import grpc
import pytest
import requests
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_lite.collector import registry
from otel_lite.collector.component import ConfigError
from otel_lite.collector.config import build_config, parse_yaml
from otel_lite.collector.consumer import RetryableError
from otel_lite.collector.pipeline import Host
from otel_lite.collector.receivers.otlp import OTLPReceiverConfig
from otel_lite.collector.service import Collector
from otel_lite.collector.tls import TLSClientConfig, TLSServerConfig
from tests.collector.exporter_util import make_exporter, make_traces
from tests.support import capture_collector
from tests.support.capture_collector import lookup
from tests.support.certs import make_pki
from tests.support.collector_process import run_collector
from tests.support.otlp_requests import EXPORT_METHOD
from tests.support.otlp_sink import OtlpSink


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


# ---------------------------------------------------------------------------
# A collector whose pipeline ends in a capturing exporter


class Running(capture_collector.Running):
    def __init__(self, loop_thread, grpc_tls: str, http_tls: str, extra: str = ""):
        text = f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:0", tls: {grpc_tls}}}
      http: {{endpoint: "127.0.0.1:0", tls: {http_tls}}}
exporters:
  capture:
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [capture]}}
  telemetry: {{metrics: {{level: none}}}}
{extra}"""
        super().__init__(loop_thread, text)

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.receiver.http_port}/v1/traces"


def server_tls(pki, mutual: bool, **extra) -> str:
    items = {"cert_file": pki.server_cert, "key_file": pki.server_key, **extra}
    if mutual:
        items["client_ca_file"] = pki.ca
    return "{" + ", ".join(f"{k}: '{v}'" for k, v in items.items()) + "}"


@pytest.fixture
def mtls(loop_thread, pki):
    r = Running(loop_thread, server_tls(pki, True), server_tls(pki, True))
    yield r
    r.stop()


def sdk_span(name: str):
    provider = TracerProvider()
    with provider.get_tracer("tls-test").start_as_current_span(name) as span:
        pass
    return span


def raw_grpc(target: str, credentials) -> None:
    with grpc.secure_channel(target, credentials) as channel:
        channel.unary_unary(EXPORT_METHOD)(b"", timeout=5)


# ---------------------------------------------------------------------------
# Receiver: mutual TLS with the official exporters and raw clients


@pytest.fixture
def no_requests_ca_env(monkeypatch):
    """requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's ``verify`` (requests#3829),
    which is how the official HTTP exporter passes ``certificate_file``: keep them out of its way."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


def test_official_exporters_over_mutual_tls(mtls, pki, no_requests_ca_env):
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as OfficialGrpc
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as OfficialHttp

    creds = grpc.ssl_channel_credentials(pki.read("ca"), pki.read("client_key"), pki.read("client_cert"))
    grpc_exporter = OfficialGrpc(endpoint=mtls.grpc_target, insecure=False, credentials=creds, timeout=5)
    http_exporter = OfficialHttp(
        endpoint=mtls.https_url,
        certificate_file=pki.ca,
        client_key_file=pki.client_key,
        client_certificate_file=pki.client_cert,
        timeout=5,
    )
    try:
        assert grpc_exporter.export([sdk_span("official-grpc")]) == SpanExportResult.SUCCESS
        assert http_exporter.export([sdk_span("official-http")]) == SpanExportResult.SUCCESS
    finally:
        grpc_exporter.shutdown()
        http_exporter.shutdown()
    assert mtls.capture.span_names() == ["official-grpc", "official-http"]


def test_mutual_tls_refuses_clients_without_a_trusted_certificate(mtls, pki):
    ca = pki.read("ca")
    # gRPC: no client certificate, then one from an unrelated CA
    for creds in (
        grpc.ssl_channel_credentials(ca),
        grpc.ssl_channel_credentials(ca, pki.read("other_client_key"), pki.read("other_client_cert")),
    ):
        with pytest.raises(grpc.RpcError) as info:
            raw_grpc(mtls.grpc_target, creds)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    # HTTP: the same two
    headers = {"Content-Type": "application/x-protobuf"}
    for cert in (None, (pki.other_client_cert, pki.other_client_key)):
        with pytest.raises(requests.exceptions.ConnectionError):  # SSLError derives from it
            requests.post(mtls.https_url, data=b"", headers=headers, verify=pki.ca, cert=cert, timeout=5)
    # and the trusted client certificate works on both
    raw_grpc(mtls.grpc_target, grpc.ssl_channel_credentials(ca, pki.read("client_key"), pki.read("client_cert")))
    resp = requests.post(
        mtls.https_url, data=b"", headers=headers, verify=pki.ca, cert=(pki.client_cert, pki.client_key), timeout=5
    )
    assert resp.status_code == 200
    assert mtls.capture.batches == []  # empty requests never reach the pipeline


def test_official_grpc_exporter_without_client_certificate_fails(mtls, pki):
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as OfficialGrpc

    exporter = OfficialGrpc(
        endpoint=mtls.grpc_target, insecure=False, credentials=grpc.ssl_channel_credentials(pki.read("ca")), timeout=1
    )
    try:
        assert exporter.export([sdk_span("refused")]) == SpanExportResult.FAILURE
    finally:
        exporter.shutdown()
    assert mtls.capture.batches == []


def test_otel_lite_exporters_over_tls_and_mutual_tls(loop_thread, pki):
    from otel_lite.export.otlp_grpc import OTLPSpanExporter as LiteGrpc
    from otel_lite.export.otlp_http import OTLPSpanExporter as LiteHttp

    # server TLS only on gRPC, mutual TLS on HTTP
    r = Running(loop_thread, server_tls(pki, False), server_tls(pki, True))
    try:
        grpc_exporter = LiteGrpc(endpoint=r.grpc_target, insecure=False, certificate_file=pki.ca, timeout=5)
        http_exporter = LiteHttp(
            endpoint=r.https_url,
            certificate_file=pki.ca,
            client_key_file=pki.client_key,
            client_certificate_file=pki.client_cert,
            timeout=5,
        )
        try:
            # otel_lite has its own SpanExportResult (same names as the SDK's)
            assert grpc_exporter.export([sdk_span("lite-grpc")]).name == "SUCCESS"
            assert http_exporter.export([sdk_span("lite-http")]).name == "SUCCESS"
        finally:
            grpc_exporter.shutdown()
            http_exporter.shutdown()
        assert r.capture.span_names() == ["lite-grpc", "lite-http"]
        # plaintext is not served on a TLS port
        with pytest.raises(grpc.RpcError), grpc.insecure_channel(r.grpc_target) as channel:
            channel.unary_unary(EXPORT_METHOD)(b"", timeout=5)
    finally:
        r.stop()


def test_http_min_version_refuses_older_clients(loop_thread, pki):
    import socket

    r = Running(loop_thread, server_tls(pki, False), server_tls(pki, False, min_version="1.3"))
    port = int(r.https_url.split(":")[2].split("/")[0])

    def handshake(max_version):
        ctx = ssl.create_default_context(cafile=pki.ca)
        ctx.maximum_version = max_version
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
            ctx.wrap_socket(sock, server_hostname="127.0.0.1") as tls,
        ):
            return tls.version()

    try:
        with pytest.raises(ssl.SSLError):
            handshake(ssl.TLSVersion.TLSv1_2)
        assert handshake(ssl.TLSVersion.MAXIMUM_SUPPORTED) == "TLSv1.3"
    finally:
        r.stop()


def test_receiver_start_reports_a_bad_key_with_its_path(loop_thread, pki, tmp_path):
    wrong_key = tmp_path / "wrong-key.pem"  # readable, but not the certificate's key
    wrong_key.write_bytes(Path(pki.client_key).read_bytes())
    text = f"""
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:0", tls: {{cert_file: '{pki.server_cert}', key_file: '{wrong_key}'}}}}
exporters: {{capture: }}
service:
  pipelines: {{traces: {{receivers: [otlp], exporters: [capture]}}}}
  telemetry: {{metrics: {{level: none}}}}
"""
    collector = loop_thread.call(Collector, build_config(parse_yaml(text), lookup))
    with pytest.raises(ConfigError) as info:
        loop_thread.run(collector.start())
    assert info.value.path == "receivers.otlp.protocols.http.tls.cert_file"


# ---------------------------------------------------------------------------
# Exporters: the collector's otlp_grpc / otlp_http against a TLS sink


@pytest.fixture
def tls_sink(pki):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.server_cert, pki.server_key)
    ctx.load_verify_locations(pki.ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    creds = grpc.ssl_server_credentials(
        [(pki.read("server_key"), pki.read("server_cert"))], root_certificates=pki.read("ca"), require_client_auth=True
    )
    with OtlpSink(grpc_credentials=creds, ssl_context=ctx) as sink:
        yield sink


def export(loop_thread, type_: str, config: dict, n: int = 2):
    """Start an exporter, send one batch of ``n`` spans and stop; returns the error or None."""
    base = {"retry_on_failure": {"enabled": False}, "sending_queue": {"enabled": False}, "timeout": "5s"}

    async def main():
        exporter, _ = make_exporter(type_, {**base, **config})
        await exporter.start(Host())
        try:
            await exporter.consume(make_traces(n))
        except RetryableError as e:
            return e
        finally:
            await exporter.shutdown()
        return None

    return loop_thread.run(main())


def test_collector_exporters_over_mutual_tls(loop_thread, tls_sink, pki):
    client = {"ca_file": pki.ca, "cert_file": pki.client_cert, "key_file": pki.client_key}
    assert export(loop_thread, "otlp", {"endpoint": tls_sink.grpc_endpoint, "tls": client}) is None
    assert export(loop_thread, "otlphttp", {"endpoint": tls_sink.http_endpoint, "tls": client}) is None
    assert tls_sink.span_count() == 4
    # without a client certificate the sink refuses the handshake: retryable, nothing delivered
    ca_only = {"ca_file": pki.ca}
    assert isinstance(export(loop_thread, "otlp", {"endpoint": tls_sink.grpc_endpoint, "tls": ca_only}), RetryableError)
    assert isinstance(
        export(loop_thread, "otlphttp", {"endpoint": tls_sink.http_endpoint, "tls": ca_only}), RetryableError
    )
    assert tls_sink.span_count() == 4


def test_collector_http_exporter_verification(loop_thread, pki):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.server_cert, pki.server_key)
    with OtlpSink(grpc=False, ssl_context=ctx) as sink:
        url = sink.http_endpoint
        # the system CAs do not trust the test CA; a wrong CA neither
        assert isinstance(export(loop_thread, "otlphttp", {"endpoint": url}), RetryableError)
        assert isinstance(
            export(loop_thread, "otlphttp", {"endpoint": url, "tls": {"ca_file": pki.other_ca}}), RetryableError
        )
        assert export(loop_thread, "otlphttp", {"endpoint": url, "tls": {"insecure_skip_verify": True}}) is None
        # server_name_override: connect to an address, verify the name in the certificate
        assert (
            export(
                loop_thread,
                "otlphttp",
                {"endpoint": url, "tls": {"ca_file": pki.ca, "server_name_override": "localhost"}},
            )
            is None
        )
        assert (
            export(loop_thread, "otlphttp", {"endpoint": url, "tls": {"ca_file": pki.ca, "min_version": "1.3"}}) is None
        )
        assert sink.span_count() == 6


def test_collector_grpc_exporter_server_name_override(loop_thread, tls_sink, pki):
    client = {
        "ca_file": pki.ca,
        "cert_file": pki.client_cert,
        "key_file": pki.client_key,
        "server_name_override": "localhost",
    }
    assert export(loop_thread, "otlp", {"endpoint": tls_sink.grpc_endpoint, "tls": client}) is None
    client["server_name_override"] = "elsewhere.example"  # not in the certificate
    assert isinstance(export(loop_thread, "otlp", {"endpoint": tls_sink.grpc_endpoint, "tls": client}), RetryableError)
    assert tls_sink.span_count() == 2


# ---------------------------------------------------------------------------
# Validation: every error names its key


def test_server_tls_validation(pki, tmp_path):
    def error(tls: dict, protocol: str = "http") -> ConfigError:
        with pytest.raises(ConfigError) as info:
            OTLPReceiverConfig.from_mapping({"protocols": {protocol: {"tls": tls}}}, "receivers.otlp")
        return info.value

    base = "receivers.otlp.protocols.http.tls"
    good = {"cert_file": pki.server_cert, "key_file": pki.server_key}
    assert error({}).path == f"{base}.cert_file"
    assert error({"cert_file": pki.server_cert}).path == f"{base}.key_file"
    missing = str(tmp_path / "missing.pem")
    e = error({**good, "client_ca_file": missing})
    assert e.path == f"{base}.client_ca_file" and "missing.pem" in e.message
    assert error({**good, "key_file": missing}).path == f"{base}.key_file"
    e = error({**good, "min_version": "1.1"})
    assert e.path == f"{base}.min_version" and "1.2" in e.message
    assert error({**good, "min_version": "1.3", "max_version": "1.2"}).path == f"{base}.max_version"
    assert error({**good, "bogus": 1}).path == f"{base}.bogus"
    # gRPC cannot change TLS versions: refused rather than silently ignored
    assert error({**good, "min_version": "1.3"}, "grpc").path == "receivers.otlp.protocols.grpc.tls.min_version"
    cfg = OTLPReceiverConfig.from_mapping(
        {"protocols": {"grpc": {"tls": {**good, "min_version": 1.2, "reload_interval": "1h"}}}}
    )
    tls = cfg.protocols.grpc.tls
    assert isinstance(tls, TLSServerConfig) and tls.min_version == "1.2" and tls.reload_interval == 3600


@pytest.mark.parametrize(
    "type_, tls, path",
    [
        ("otlp", {"cert_file": "PLACEHOLDER"}, "tls.key_file"),
        ("otlp", {"ca_file": "MISSING"}, "tls.ca_file"),
        ("otlp", {"min_version": "1.3"}, "tls.min_version"),
        ("otlp", {"insecure_skip_verify": True}, "tls.insecure_skip_verify"),
        ("otlphttp", {"min_version": "1.0"}, "tls.min_version"),
        ("otlphttp", {"max_version": "1.4"}, "tls.max_version"),
        ("otlphttp", {"cert_file": "MISSING", "key_file": "MISSING"}, "tls.cert_file"),
    ],
)
def test_client_tls_validation(type_, tls, path, pki, tmp_path):
    tls = {
        k: (pki.client_cert if v == "PLACEHOLDER" else str(tmp_path / "x.pem") if v == "MISSING" else v)
        for k, v in tls.items()
    }
    endpoint = "127.0.0.1:4317" if type_ == "otlp" else "https://127.0.0.1:4318"
    with pytest.raises(ConfigError) as info:
        registry.lookup("exporter", type_).config_class.from_mapping({"endpoint": endpoint, "tls": tls})
    assert info.value.path == path


def test_one_tls_module_for_both_sides():
    from otel_lite.collector.exporters import helper, otlp_grpc, otlp_http
    from otel_lite.collector.receivers import otlp

    assert helper.TLSConfig is TLSClientConfig
    assert otlp.TLSServerConfig is TLSServerConfig
    assert set(TLSClientConfig.__dataclass_fields__) >= {
        "ca_file",
        "cert_file",
        "key_file",
        "insecure",
        "insecure_skip_verify",
        "min_version",
        "max_version",
        "server_name_override",
        "reload_interval",
    }
    assert "client_ca_file" in TLSServerConfig.__dataclass_fields__
    assert otlp_grpc.OTLPGrpcExporterConfig.__dataclass_fields__["tls"].type in ("TLSConfig", TLSClientConfig)
    assert otlp_http.OTLPHttpExporterConfig.__dataclass_fields__["tls"].type in ("TLSConfig", TLSClientConfig)


# ---------------------------------------------------------------------------
# The example config: it validates, and runs end to end (mutual TLS + tokens in and out)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "collector-tls-auth.yaml"


def test_example_config_validates_and_runs(loop_thread, pki, tmp_path, no_requests_ca_env):
    import os
    import shutil

    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as OfficialHttp

    from otel_lite.collector.config import load_config

    tls_dir = tmp_path / "tls"
    tls_dir.mkdir()
    for name, target in (
        ("ca", "ca.pem"),
        ("server_cert", "server.pem"),
        ("server_key", "server-key.pem"),
        ("client_cert", "client.pem"),
        ("client_key", "client-key.pem"),
    ):
        shutil.copy(getattr(pki, name), tls_dir / target)
    (tls_dir / "backend-token").write_text("backend-secret\n")
    env = {"OTEL_LITE_TLS_DIR": str(tls_dir), "OTEL_LITE_TOKEN": "client-secret"}
    result = run_collector("validate", "--config", str(EXAMPLE), env=env)
    assert result.returncode == 0, result.stderr
    result = run_collector(
        "validate", "--config", str(EXAMPLE), env={**env, "OTEL_LITE_TLS_DIR": str(tmp_path / "nowhere")}
    )
    assert result.returncode == 1 and "receivers.otlp.protocols.grpc.tls.cert_file" in result.stderr

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # the "backend": mutual TLS
    ctx.load_cert_chain(pki.server_cert, pki.server_key)
    ctx.load_verify_locations(pki.ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    creds = grpc.ssl_server_credentials(
        [(pki.read("server_key"), pki.read("server_cert"))], root_certificates=pki.read("ca"), require_client_auth=True
    )
    with OtlpSink(grpc_credentials=creds, http=False) as backend:
        overrides = [
            "receivers.otlp.protocols.grpc.endpoint=127.0.0.1:0",
            "receivers.otlp.protocols.http.endpoint=127.0.0.1:0",
            "extensions.health_check.endpoint=127.0.0.1:0",
            "service.telemetry.metrics.level=none",
            "processors.batch.timeout=10ms",
            f"exporters.otlp_grpc.endpoint={backend.grpc_endpoint}",
        ]
        config = load_config([str(EXAMPLE)], overrides, env={**os.environ, **env})
        collector = loop_thread.call(Collector, config)
        loop_thread.run(collector.start())
        try:
            receiver = collector.graph.get("receiver", "otlp")
            url = f"https://127.0.0.1:{receiver.http_port}/v1/traces"
            exporter = OfficialHttp(
                endpoint=url,
                certificate_file=pki.ca,
                client_key_file=pki.client_key,
                client_certificate_file=pki.client_cert,
                timeout=5,
                headers={"authorization": "Bearer client-secret"},
            )
            try:
                assert exporter.export([sdk_span("through")]) == SpanExportResult.SUCCESS
            finally:
                exporter.shutdown()
            assert backend.wait_for_spans(1, timeout=10)
            assert backend.request_headers[0]["authorization"] == "Bearer backend-secret"
        finally:
            loop_thread.run(collector.shutdown())
