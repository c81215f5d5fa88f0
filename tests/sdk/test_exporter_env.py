"""How the OTLP exporters read their settings: arguments over
OTEL_EXPORTER_OTLP_TRACES_* over OTEL_EXPORTER_OTLP_* over defaults."""

from __future__ import annotations

import logging
import os

import grpc
import pytest

import otel_lite
from otel_lite.export.otlp_grpc import OTLPSpanExporter as GrpcExporter
from otel_lite.export.otlp_http import OTLPSpanExporter as HttpExporter


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")


# -- gRPC endpoint and TLS ------------------------------------------------------------------------------


def test_grpc_defaults():
    exporter = GrpcExporter()
    assert exporter.transport.target == "localhost:4317" and exporter.transport.insecure is True
    assert exporter._timeout == 10.0 and exporter.transport.metadata == ()
    assert exporter.transport.compression == grpc.Compression.NoCompression


def test_grpc_traces_endpoint_wins_over_generic(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4317")
    assert GrpcExporter().transport.target == "generic:4317"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:1234")
    assert GrpcExporter().transport.target == "traces:1234"
    assert GrpcExporter("http://arg:9").transport.target == "arg:9"


@pytest.mark.parametrize(
    "endpoint, insecure_arg, env, expected",
    [
        ("https://h:4317", None, {}, False),
        ("https://h:4317", True, {}, False),  # https is always TLS
        ("https://h:4317", None, {"OTEL_EXPORTER_OTLP_INSECURE": "true"}, False),
        ("http://h:4317", None, {}, True),
        ("http://h:4317", None, {"OTEL_EXPORTER_OTLP_INSECURE": "false"}, False),
        ("http://h:4317", False, {}, False),
        ("h:4317", None, {}, False),  # bare host:port: TLS by default
        ("h:4317", None, {"OTEL_EXPORTER_OTLP_INSECURE": "true"}, True),
        ("h:4317", None, {"OTEL_EXPORTER_OTLP_TRACES_INSECURE": "true", "OTEL_EXPORTER_OTLP_INSECURE": "false"}, True),
        ("h:4317", None, {"OTEL_EXPORTER_OTLP_SPAN_INSECURE": "true"}, True),  # obsolete alias
        (
            "h:4317",
            None,
            {"OTEL_EXPORTER_OTLP_TRACES_INSECURE": "false", "OTEL_EXPORTER_OTLP_SPAN_INSECURE": "true"},
            False,
        ),
        ("h:4317", True, {"OTEL_EXPORTER_OTLP_INSECURE": "false"}, True),
        ("h:4317", None, {"OTEL_EXPORTER_OTLP_INSECURE": "yes please"}, False),  # garbage: ignored
    ],
)
def test_grpc_insecure_resolution(endpoint, insecure_arg, env, expected, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    exporter = GrpcExporter(endpoint, insecure=insecure_arg)
    assert exporter.transport.insecure is expected
    assert exporter.transport.target == "h:4317"
    exporter.shutdown()


def test_grpc_target_forms_are_kept():
    assert GrpcExporter("dns:///collector:4317", insecure=True).transport.target == "dns:///collector:4317"
    assert GrpcExporter("unix:/tmp/otlp.sock", insecure=True).transport.target == "unix:/tmp/otlp.sock"


def test_grpc_certificate_from_env_that_cannot_be_read_is_logged_not_raised(monkeypatch, caplog, tmp_path):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", str(tmp_path / "missing.pem"))
    with caplog.at_level(logging.ERROR, logger="otel_lite"):
        exporter = GrpcExporter("https://h:4317")
    assert exporter.transport.credentials is not None
    assert any("missing.pem" in r.getMessage() for r in caplog.records)
    with pytest.raises(ValueError, match="certificate file"):
        GrpcExporter("https://h:4317", certificate_file=str(tmp_path / "missing.pem"))


def test_grpc_certificate_files_are_read(monkeypatch, tmp_path):
    pem = tmp_path / "ca.pem"
    pem.write_bytes(b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", str(pem))
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", str(tmp_path / "other.pem"))  # not read: TRACES wins
    assert GrpcExporter("https://h:4317").transport.credentials is not None


def test_grpc_explicit_credentials_are_used():
    credentials = grpc.ssl_channel_credentials()
    assert GrpcExporter("h:4317", credentials=credentials).transport.credentials is credentials


# -- HTTP endpoint ----------------------------------------------------------------------------------------


def test_http_default_endpoint():
    assert HttpExporter().transport.endpoint == "http://localhost:4318/v1/traces"


@pytest.mark.parametrize(
    "generic, expected",
    [
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("https://collector/otlp", "https://collector/otlp/v1/traces"),
    ],
)
def test_http_generic_endpoint_gets_the_signal_path(generic, expected, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", generic)
    assert HttpExporter().transport.endpoint == expected


def test_http_traces_endpoint_is_used_as_is_and_wins(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4318/custom/path")
    assert HttpExporter().transport.endpoint == "http://traces:4318/custom/path"
    assert HttpExporter("http://arg:1/x").transport.endpoint == "http://arg:1/x"


def test_http_bad_endpoints(monkeypatch, caplog):
    with pytest.raises(ValueError, match="http:// or https://"):
        HttpExporter("collector:4318")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "not a url")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318")
    with caplog.at_level(logging.WARNING, logger="otel_lite"):
        assert HttpExporter().transport.endpoint == "http://generic:4318/v1/traces"
    assert any("not a url" in r.getMessage() for r in caplog.records)


def test_http_content_type_and_bad_encoding():
    assert HttpExporter().transport.headers["Content-Type"] == "application/x-protobuf"
    assert HttpExporter(encoding="json").transport.headers["Content-Type"] == "application/json"
    with pytest.raises(ValueError, match="encoding"):
        HttpExporter(encoding="xml")


# -- shared settings: timeout, compression, headers ---------------------------------------------------------


@pytest.mark.parametrize("exporter_class", [GrpcExporter, HttpExporter])
def test_timeout_env_is_milliseconds_and_argument_is_seconds(exporter_class, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2500")
    assert exporter_class()._timeout == 2.5
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "750")
    assert exporter_class()._timeout == 0.75
    assert exporter_class(timeout=3)._timeout == 3.0
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "soon")  # garbage: ignored, next variable used
    assert exporter_class()._timeout == 2.5
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "-5")
    assert exporter_class()._timeout == 10.0
    for bad in (0, -1, "x"):
        with pytest.raises(ValueError, match="timeout"):
            exporter_class(timeout=bad)


def test_compression_from_env_and_arguments(monkeypatch, caplog):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    assert GrpcExporter().transport.compression == grpc.Compression.Gzip
    assert HttpExporter().transport.headers["Content-Encoding"] == "gzip"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none")
    assert GrpcExporter().transport.compression == grpc.Compression.NoCompression
    assert "Content-Encoding" not in HttpExporter().transport.headers
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "deflate")
    assert HttpExporter().transport.headers["Content-Encoding"] == "deflate"
    with caplog.at_level(logging.WARNING, logger="otel_lite"):
        assert GrpcExporter().transport.compression == grpc.Compression.Gzip  # deflate is not gRPC's: next variable
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "brotli")
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_COMPRESSION")
    assert "Content-Encoding" not in HttpExporter().transport.headers
    assert GrpcExporter(compression="gzip").transport.compression == grpc.Compression.Gzip
    assert GrpcExporter(compression=grpc.Compression.Gzip).transport.compression == grpc.Compression.Gzip
    with pytest.raises(ValueError, match="compression"):
        GrpcExporter(compression="deflate")
    with pytest.raises(ValueError, match="compression"):
        HttpExporter(compression="brotli")


@pytest.mark.parametrize("exporter_class", [GrpcExporter, HttpExporter])
def test_header_precedence(exporter_class, monkeypatch):
    def headers(exporter):
        return dict(exporter.transport.metadata) if exporter_class is GrpcExporter else exporter.transport.headers

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "a=1,b=2")
    assert headers(exporter_class())["a"] == "1"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "c=3")
    got = headers(exporter_class())
    assert got["c"] == "3" and "a" not in got
    got = headers(exporter_class(headers={"d": "4"}))
    assert got["d"] == "4" and "c" not in got
    assert headers(exporter_class(headers=[("e", "5")]))["e"] == "5"
    assert headers(exporter_class(headers="f=6%207"))["f"] == "6 7"


def test_grpc_metadata_keys_are_lowercased():
    assert GrpcExporter(headers={"X-Tenant": "A"}).transport.metadata == (("x-tenant", "A"),)


# -- protocol selection through configure() -------------------------------------------------------------------


@pytest.mark.parametrize(
    "protocol, kind",
    [
        (None, "http/protobuf"),
        ("grpc", "grpc"),
        ("http/protobuf", "http/protobuf"),
        ("http/json", "http/json"),
    ],
)
def test_configure_picks_the_protocol_from_the_environment_and_delivers(protocol, kind, otlp_sink, monkeypatch):
    if protocol:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    if kind == "grpc":
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://" + otlp_sink.grpc_endpoint)
    else:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_sink.http_endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-from-env=yes")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "20")
    provider = otel_lite.configure(service_name="configured", set_global=False)
    try:
        exporter = provider._processor._processors[0].span_exporter
        expected = GrpcExporter if kind == "grpc" else HttpExporter
        assert type(exporter) is expected
        if kind != "grpc":
            assert exporter.transport.encoding == ("json" if kind == "http/json" else "proto")
        with provider.get_tracer("cfg").start_as_current_span("configured-span"):
            pass
        assert provider.force_flush(10_000)
        assert otlp_sink.wait_for_spans(1, timeout=10)
        assert otlp_sink.spans()[0].name == "configured-span"
        assert otlp_sink.request_headers[0]["x-from-env"] == "yes"
        resource = {kv.key: kv.value.string_value for kv in otlp_sink.requests[0].resource_spans[0].resource.attributes}
        assert resource["service.name"] == "configured"
    finally:
        provider.shutdown()


def test_traces_protocol_wins_and_configure_arguments_win(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json")
    provider = otel_lite.configure(set_global=False, timeout=1.5, compression="gzip", headers={"k": "v"})
    try:
        exporter = provider._processor._processors[0].span_exporter
        assert type(exporter) is HttpExporter and exporter.transport.encoding == "json"
        assert exporter._timeout == 1.5 and exporter.transport.headers["Content-Encoding"] == "gzip"
        assert exporter.transport.headers["k"] == "v"
    finally:
        provider.shutdown()
    provider = otel_lite.configure(set_global=False, protocol="grpc", endpoint="http://x:1", insecure=False)
    try:
        exporter = provider._processor._processors[0].span_exporter
        assert type(exporter) is GrpcExporter
        assert exporter.transport.target == "x:1" and exporter.transport.insecure is False
    finally:
        provider.shutdown()


@pytest.mark.parametrize(
    "exporter_class, bad",
    [
        (GrpcExporter, {"bad key": "v"}),
        (GrpcExporter, {"k": "line\nbreak"}),
        (GrpcExporter, {"grpc-timeout": "1"}),
        (GrpcExporter, {"k": "caf\u00e9"}),
        (HttpExporter, {"bad key": "v"}),
        (HttpExporter, {"k": "a\r\nInjected: 1"}),
        (HttpExporter, {"k": b"bytes"}),
    ],
)
def test_bad_header_arguments_raise(exporter_class, bad):
    with pytest.raises(ValueError, match="header"):
        exporter_class(headers=bad)


@pytest.mark.parametrize("exporter_class", [GrpcExporter, HttpExporter])
def test_bad_headers_from_the_environment_are_left_out_with_a_warning(exporter_class, monkeypatch, caplog):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "good=1,bad%20key=2,other=a%0Ab")
    with caplog.at_level(logging.WARNING, logger="otel_lite"):
        exporter = exporter_class()
    headers = dict(exporter.transport.metadata) if exporter_class is GrpcExporter else exporter.transport.headers
    assert headers["good"] == "1" and "bad key" not in headers and "other" not in headers
    assert sum("ignoring OTLP exporter header" in r.getMessage() for r in caplog.records) == 2


def test_grpc_binary_metadata_values_become_bytes():
    exporter = GrpcExporter(headers={"Trace-Bin": "\x01abc", "raw-bin": b"\x00\xff"})
    assert dict(exporter.transport.metadata) == {"trace-bin": b"\x01abc", "raw-bin": b"\x00\xff"}


def test_http_user_agent_can_be_replaced_but_not_the_body_headers():
    exporter = HttpExporter(
        headers={"user-agent": "mine/1", "content-type": "text/plain", "X": "y"}, compression="gzip"
    )
    assert exporter.transport.headers == {
        "user-agent": "mine/1",
        "X": "y",
        "Content-Type": "application/x-protobuf",
        "Content-Encoding": "gzip",
    }


@pytest.mark.parametrize(
    "endpoint, expected",
    [
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("http://collector:4318/custom", "http://collector:4318/custom"),
    ],
)
def test_configure_http_endpoint_without_a_path_gets_the_signal_path(endpoint, expected):
    import otel_lite

    assert otel_lite.otlp_exporter("http/protobuf", endpoint=endpoint).transport.endpoint == expected
