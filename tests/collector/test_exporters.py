"""The concrete exporters against a real OTLP peer (tests/support/otlp_sink.py)
and real files."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_lite.collector.component import ConfigError
from otel_lite.collector.consumer import PermanentError, RetryableError, ThrottledError
from otel_lite.collector.exporters import debug as debug_mod
from otel_lite.collector.exporters import file as file_mod
from otel_lite.collector.exporters import otlp_grpc, otlp_http
from otel_lite.collector.exporters.otlp_http import parse_retry_after
from otel_lite.collector.pipeline import Host
from otel_lite.collector.registry import lookup
from tests.support.otlp_sink import otlp_json_to_message

from .conftest import free_port
from .exporter_util import FAST_RETRY, make_exporter, make_traces, metric

WAIT = {"wait_for_result": True}


def span_keys(spans):
    return sorted((s.trace_id, s.span_id, s.name) for s in spans)


def sent_keys(*batches):
    return span_keys(s for t in batches for rs in t.message.resource_spans for ss in rs.scope_spans for s in ss.spans)


def run(coro):
    return asyncio.run(coro)


async def export(kind_type: str, config: dict, batches, name: str = ""):
    """Start an exporter, consume ``batches`` (errors collected), shut it down."""
    exp, tel = make_exporter(kind_type, config, name=name)
    await exp.start(Host())
    errors = []
    try:
        for t in batches:
            try:
                await exp.consume(t)
            except Exception as e:
                errors.append(e)
    finally:
        await exp.shutdown()
    return tel, errors


# -- registry / config --------------------------------------------------------


def test_factories_and_aliases():
    assert lookup("exporter", "otlp") is otlp_grpc.FACTORY
    assert lookup("exporter", "otlphttp") is otlp_http.FACTORY
    assert lookup("exporter", "file") is file_mod.FACTORY
    assert lookup("exporter", "debug") is debug_mod.FACTORY
    assert lookup("extension", "file_storage").type == "file_storage"


@pytest.mark.parametrize(
    "type_, data, path",
    [
        ("otlp", {}, "endpoint"),
        ("otlp", {"endpoint": "h:1", "compression": "brotli"}, "compression"),
        ("otlp", {"endpoint": "h:1", "headers": {"X-Key": "v"}}, "headers.X-Key"),
        ("otlp", {"endpoint": "h:1", "tls": {"cert_file": "c.pem"}}, "tls.key_file"),
        ("otlphttp", {}, "endpoint"),
        ("otlphttp", {"endpoint": "localhost:4318"}, "endpoint"),
        ("otlphttp", {"endpoint": "http://h:1", "encoding": "xml"}, "encoding"),
        ("otlphttp", {"endpoint": "http://h:1", "compression": "lz4"}, "compression"),
        ("file", {}, "path"),
        ("file", {"path": "x", "format": "csv"}, "format"),
        ("file", {"path": "x", "rotation": {"max_megabytes": 0}}, "rotation.max_megabytes"),
        ("debug", {"verbosity": "loud"}, "verbosity"),
        ("debug", {"verbosityy": "basic"}, "verbosityy"),
    ],
)
def test_bad_configs_name_the_key(type_, data, path):
    factory = lookup("exporter", type_)
    with pytest.raises(ConfigError) as info:
        factory.config_class.from_mapping(data)
    assert info.value.path == path


def test_http_defaults():
    cfg = otlp_http.FACTORY.config_class.from_mapping({"endpoint": "http://h:4318/"})
    assert cfg.timeout == 30.0 and cfg.compression == "gzip" and cfg.encoding == "proto"
    assert cfg.url() == "http://h:4318/v1/traces"
    cfg = otlp_http.FACTORY.config_class.from_mapping({"endpoint": "http://h:1", "traces_endpoint": "http://o:2/t"})
    assert cfg.url() == "http://o:2/t"
    g = otlp_grpc.FACTORY.config_class.from_mapping({"endpoint": "h:4317"})
    assert g.timeout == 5.0 and g.compression == "gzip" and g.tls.insecure is False


# -- OTLP/gRPC ----------------------------------------------------------------


def grpc_cfg(sink, **extra):
    cfg = {
        "endpoint": sink.grpc_endpoint,
        "tls": {"insecure": True},
        "retry_on_failure": FAST_RETRY,
        "sending_queue": WAIT,
    }
    cfg.update(extra)
    return cfg


def test_grpc_delivers_every_span_with_headers(otlp_sink):
    batches = [make_traces(50, i) for i in range(4)]
    tel, errors = run(export("otlp", grpc_cfg(otlp_sink, headers={"x-tenant": "acme"}), batches))
    assert errors == []
    assert span_keys(otlp_sink.spans()) == sent_keys(*batches)
    assert all(h.get("x-tenant") == "acme" for h in otlp_sink.request_headers)
    assert metric(tel, "otelcol_exporter_sent_spans_total", exporter="otlp_grpc") == 200


@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_grpc_compression(otlp_sink, compression):
    t = make_traces(20)
    _, errors = run(export("otlp", grpc_cfg(otlp_sink, compression=compression), [t]))
    assert errors == [] and span_keys(otlp_sink.spans()) == sent_keys(t)


def test_grpc_http_scheme_means_plaintext(otlp_sink):
    t = make_traces(3)
    cfg = grpc_cfg(otlp_sink, endpoint="http://" + otlp_sink.grpc_endpoint)
    del cfg["tls"]
    _, errors = run(export("otlp", cfg, [t]))
    assert errors == [] and span_keys(otlp_sink.spans()) == sent_keys(t)


def test_grpc_unavailable_is_retried_and_delivered_once(otlp_sink):
    otlp_sink.fail_next(2, grpc_code=grpc.StatusCode.UNAVAILABLE)
    t = make_traces(5)
    tel, errors = run(export("otlp", grpc_cfg(otlp_sink), [t]))
    assert errors == []
    assert otlp_sink.attempts == 3 and len(otlp_sink.requests) == 1
    assert span_keys(otlp_sink.spans()) == sent_keys(t)
    assert metric(tel, "otelcol_exporter_send_failed_spans_total", exporter="otlp_grpc", error_permanent="false") == 0


def test_grpc_invalid_argument_is_permanent(otlp_sink):
    otlp_sink.fail_next(1, grpc_code=grpc.StatusCode.INVALID_ARGUMENT)
    tel, errors = run(export("otlp", grpc_cfg(otlp_sink), [make_traces(4)]))
    assert len(errors) == 1 and isinstance(errors[0], PermanentError)
    assert errors[0].grpc_code == grpc.StatusCode.INVALID_ARGUMENT
    assert otlp_sink.attempts == 1 and otlp_sink.span_count() == 0
    assert metric(tel, "otelcol_exporter_send_failed_spans_total", exporter="otlp_grpc", error_permanent="true") == 4


def test_grpc_resource_exhausted_with_retry_info_is_throttled(otlp_sink):
    otlp_sink.fail_next(1, grpc_code=grpc.StatusCode.RESOURCE_EXHAUSTED, retry_after=0.3)
    t = make_traces(2)

    async def main():
        exp, _ = make_exporter("otlp", grpc_cfg(otlp_sink, sending_queue={"enabled": False}))
        await exp.start(Host())
        try:
            with pytest.raises(ThrottledError) as info:
                await exp._attempt(t)  # one attempt: the classification itself
            assert abs(info.value.delay - 0.3) < 1e-6
            start = time.monotonic()
            otlp_sink.fail_next(1, grpc_code=grpc.StatusCode.RESOURCE_EXHAUSTED, retry_after=0.3)
            await exp.consume(t)  # retried after at least the server's delay
            assert time.monotonic() - start >= 0.29
        finally:
            await exp.shutdown()

    run(main())
    assert otlp_sink.attempts == 3 and span_keys(otlp_sink.spans()) == sent_keys(t)


def test_grpc_resource_exhausted_without_retry_info_is_permanent(otlp_sink):
    otlp_sink.fail_next(1, grpc_code=grpc.StatusCode.RESOURCE_EXHAUSTED)
    _, errors = run(export("otlp", grpc_cfg(otlp_sink), [make_traces(1)]))
    assert len(errors) == 1 and isinstance(errors[0], PermanentError)
    assert otlp_sink.attempts == 1


def test_grpc_backend_down_is_retryable():
    cfg = {
        "endpoint": f"127.0.0.1:{free_port()}",
        "tls": {"insecure": True},
        "timeout": "2s",
        "retry_on_failure": {"enabled": False},
        "sending_queue": {"enabled": False},
    }
    _tel, errors = run(export("otlp", cfg, [make_traces(3)]))
    assert len(errors) == 1 and isinstance(errors[0], RetryableError)
    assert not isinstance(errors[0], PermanentError)


def test_grpc_queue_full_refuses_with_retryable_error(otlp_sink):
    otlp_sink.delay = 0.5  # the single consumer is busy with the first batch

    async def main():
        exp, tel = make_exporter("otlp", grpc_cfg(otlp_sink, sending_queue={"num_consumers": 1, "queue_size": 1}))
        await exp.start(Host())
        try:
            await exp.consume(make_traces(1, 0))
            deadline = time.monotonic() + 10
            # the sink counts an attempt after its delay; the queue frees b0's room once answered
            while (otlp_sink.attempts == 0 or exp.queue.size()) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            await exp.consume(make_traces(1, 1))  # held (queued or being sent) for 0.5 s
            with pytest.raises(RetryableError, match="sending queue is full"):
                await exp.consume(make_traces(6, 2))
            assert metric(tel, "otelcol_exporter_enqueue_failed_spans_total", exporter="otlp_grpc") == 6
        finally:
            await exp.shutdown()  # drains batch 1
        return tel

    tel = run(main())
    assert sorted(s.name for s in otlp_sink.spans()) == ["s0-0", "s1-0"]
    assert metric(tel, "otelcol_exporter_sent_spans_total", exporter="otlp_grpc") == 2


# -- OTLP/HTTP ----------------------------------------------------------------


def http_cfg(sink, **extra):
    cfg = {"endpoint": sink.http_endpoint, "retry_on_failure": FAST_RETRY, "sending_queue": WAIT}
    cfg.update(extra)
    return cfg


@pytest.mark.parametrize(
    "encoding, compression", [("proto", "gzip"), ("proto", "none"), ("json", "gzip"), ("json", "none")]
)
def test_http_delivers_every_span(otlp_sink, encoding, compression):
    batches = [make_traces(30, i) for i in range(3)]
    # a link, so JSON link ids are exercised too
    batches[0].message.resource_spans[0].scope_spans[0].spans[0].links.add(
        trace_id=os.urandom(16), span_id=os.urandom(8)
    )
    batches[0].modified()
    tel, errors = run(
        export(
            "otlphttp",
            http_cfg(otlp_sink, encoding=encoding, compression=compression, headers={"X-Tenant": "acme"}),
            batches,
        )
    )
    assert errors == []
    assert span_keys(otlp_sink.spans()) == sent_keys(*batches)
    got_link = next(s for s in otlp_sink.spans() if s.links).links[0]
    want_link = batches[0].message.resource_spans[0].scope_spans[0].spans[0].links[0]
    assert (got_link.trace_id, got_link.span_id) == (want_link.trace_id, want_link.span_id)
    h = otlp_sink.request_headers[0]
    assert h["x-tenant"] == "acme"
    assert h["content-type"] == ("application/json" if encoding == "json" else "application/x-protobuf")
    assert (h.get("content-encoding") == "gzip") == (compression == "gzip")
    assert metric(tel, "otelcol_exporter_sent_spans_total", exporter="otlp_http") == 90


def test_http_429_retry_after_is_honoured(otlp_sink):
    otlp_sink.fail_next(1, http_status=429, retry_after=1)
    t = make_traces(3)

    async def main():
        exp, _ = make_exporter("otlphttp", http_cfg(otlp_sink))
        await exp.start(Host())
        start = time.monotonic()
        try:
            await exp.consume(t)
        finally:
            await exp.shutdown()
        return time.monotonic() - start

    elapsed = run(main())
    assert elapsed >= 0.99  # the 10 ms backoff was raised to the server's 1 s
    assert otlp_sink.attempts == 2 and span_keys(otlp_sink.spans()) == sent_keys(t)


@pytest.mark.parametrize("status", [502, 503, 504])
def test_http_retryable_statuses(otlp_sink, status):
    otlp_sink.fail_next(2, http_status=status)
    t = make_traces(2)
    _, errors = run(export("otlphttp", http_cfg(otlp_sink), [t]))
    assert errors == [] and otlp_sink.attempts == 3 and span_keys(otlp_sink.spans()) == sent_keys(t)


@pytest.mark.parametrize("status", [400, 401, 404, 413, 500])
def test_http_other_errors_are_permanent(otlp_sink, status):
    otlp_sink.fail_next(1, http_status=status)
    tel, errors = run(export("otlphttp", http_cfg(otlp_sink), [make_traces(5)]))
    assert len(errors) == 1 and isinstance(errors[0], PermanentError)
    assert errors[0].http_status == (status if status in (400, 413) else None)
    assert f"HTTP {status}" in str(errors[0]) and "sink told to fail" in str(errors[0])
    assert otlp_sink.attempts == 1
    assert metric(tel, "otelcol_exporter_send_failed_spans_total", exporter="otlp_http", error_permanent="true") == 5


def test_http_connection_refused_is_retryable():
    cfg = {
        "endpoint": f"http://127.0.0.1:{free_port()}",
        "retry_on_failure": {"enabled": False},
        "sending_queue": {"enabled": False},
    }
    _, errors = run(export("otlphttp", cfg, [make_traces(1)]))
    assert len(errors) == 1 and type(errors[0]) is RetryableError


def test_parse_retry_after_is_the_shared_parser():
    """The protocol's rules are otel_lite.otlp's (tested in tests/otlp); the name stays importable here."""
    from otel_lite import otlp

    assert parse_retry_after is otlp.parse_retry_after


class _RpcError:
    """What classify_rpc_error reads of a grpc.aio.AioRpcError."""

    def __init__(self, code, trailers=()):
        self._code, self._trailers = code, grpc.aio.Metadata(*trailers)

    def code(self):
        return self._code

    def details(self):
        return "nope"

    def trailing_metadata(self):
        return self._trailers


def _details(delay=None, retry_info_value=None) -> tuple:
    from otel_lite.otlp import rpc_status

    status = rpc_status(grpc.StatusCode.UNAVAILABLE, "x", delay)
    if retry_info_value is not None:
        status.details[0].value = retry_info_value
    return (("grpc-status-details-bin", status.SerializeToString()),)


@pytest.mark.parametrize(
    "code, trailers, kind, delay",
    [
        (grpc.StatusCode.UNAVAILABLE, (), RetryableError, None),
        (grpc.StatusCode.UNAVAILABLE, _details(2.5), ThrottledError, 2.5),
        (grpc.StatusCode.UNAVAILABLE, _details(0), RetryableError, None),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, (), PermanentError, None),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, _details(0), ThrottledError, 0.0),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, _details(-4), ThrottledError, 0.0),  # a negative delay is no delay
        (grpc.StatusCode.RESOURCE_EXHAUSTED, _details(1, retry_info_value=b"\xff\xff"), PermanentError, None),
        (grpc.StatusCode.INVALID_ARGUMENT, _details(1), PermanentError, None),
    ],
)
def test_grpc_status_classification(code, trailers, kind, delay):
    """The OTLP spec's table via otel_lite.otlp; a malformed RetryInfo counts as absent (it used to raise)."""
    error = otlp_grpc.classify_rpc_error(_RpcError(code, trailers))
    assert type(error) is kind
    assert getattr(error, "delay", None) == delay
    if kind is PermanentError:
        assert error.grpc_code == code


def test_grpc_retry_info_in_the_legacy_trailer_is_read():
    from google.rpc import error_details_pb2

    info = error_details_pb2.RetryInfo()
    info.retry_delay.FromNanoseconds(1_500_000_000)
    error = otlp_grpc.classify_rpc_error(
        _RpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, (("google.rpc.retryinfo-bin", info.SerializeToString()),))
    )
    assert type(error) is ThrottledError and error.delay == 1.5


@pytest.mark.parametrize("name", ["zstd", "deflate"])
def test_http_other_compressions_roundtrip(name):
    import zlib

    import zstandard

    data = make_traces(10).to_bytes()
    packed = otlp_http._compressor(name)(data)
    unpacked = zstandard.ZstdDecompressor().decompress(packed) if name == "zstd" else zlib.decompress(packed)
    assert unpacked == data


# -- file ---------------------------------------------------------------------


def test_file_json_lines_parse_back(tmp_path):
    path = tmp_path / "out" / "traces.jsonl"
    batches = [make_traces(10, i) for i in range(3)]
    tel, errors = run(export("file", {"path": str(path), "flush_interval": "10ms"}, batches))
    assert errors == []
    lines = path.read_bytes().splitlines()
    assert len(lines) == 3
    parsed = [otlp_json_to_message(line) for line in lines]
    assert span_keys(
        s for m in parsed for rs in m.resource_spans for ss in rs.scope_spans for s in ss.spans
    ) == sent_keys(*batches)
    first = json.loads(lines[0])["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert len(first["traceId"]) == 32 and first["kind"] == 2  # hex ids, integer enums
    assert metric(tel, "otelcol_exporter_sent_spans_total", exporter="file") == 30


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("flush_interval", ["10ms", 0])
def test_file_write_failures_are_counted_once(flush_interval):
    """Buffered batches were acknowledged already: a failed write counts them as failed
    sends (once, whether the flush loop or the caller's own push hit the error)."""
    tel, _errors = run(
        export("file", {"path": "/dev/full", "flush_interval": flush_interval}, [make_traces(5, 0), make_traces(3, 1)])
    )
    assert metric(tel, "otelcol_exporter_send_failed_spans_total", exporter="file", error_permanent="true") == 8
    assert metric(tel, "otelcol_exporter_sent_spans_total", exporter="file") in (0, 8)


def test_file_proto_format_and_truncate_vs_append(tmp_path):
    path = str(tmp_path / "traces.bin")
    a, b = make_traces(3, 0), make_traces(4, 1)
    run(export("file", {"path": path, "format": "proto", "flush_interval": 0}, [a]))
    run(export("file", {"path": path, "format": "proto", "flush_interval": 0, "append": True}, [b]))
    msgs = [ExportTraceServiceRequest.FromString(m) for m in file_mod.read_proto_file(path)]
    assert [len(m.resource_spans[0].scope_spans[0].spans) for m in msgs] == [3, 4]
    run(export("file", {"path": path, "format": "proto"}, [b]))  # append: false truncates
    assert len(file_mod.read_proto_file(path)) == 1


def test_file_zstd_messages_are_length_prefixed(tmp_path):
    import zstandard

    path = str(tmp_path / "t.zst")
    t = make_traces(5)
    run(export("file", {"path": path, "compression": "zstd"}, [t]))
    (frame,) = file_mod.read_proto_file(path)
    line = zstandard.ZstdDecompressor().decompress(frame)
    assert span_keys(
        s for rs in otlp_json_to_message(line).resource_spans for ss in rs.scope_spans for s in ss.spans
    ) == sent_keys(t)


def test_file_rotation_keeps_max_backups(tmp_path):
    path = tmp_path / "traces.jsonl"
    batches = [make_traces(2000, i) for i in range(6)]  # ~0.5 MiB of JSON each
    cfg = {"path": str(path), "flush_interval": 0, "rotation": {"max_megabytes": 1, "max_backups": 2}}
    _, errors = run(export("file", cfg, batches))
    assert errors == []
    backups = sorted(p for p in tmp_path.iterdir() if p.name != "traces.jsonl")
    assert len(backups) == 2
    assert all(p.name.startswith("traces-") and p.name.endswith(".jsonl") for p in backups)
    for p in [path, *backups]:
        assert p.stat().st_size <= 1024 * 1024
        for line in p.read_bytes().splitlines():
            otlp_json_to_message(line)  # every line is a whole request


# -- debug --------------------------------------------------------------------


def test_debug_basic_logs_a_summary(caplog):
    caplog.set_level(logging.INFO, logger="otel_lite.collector")
    t = make_traces(7)
    tel, errors = run(export("debug", {}, [t]))
    assert errors == []
    assert any('"resource spans": 1, "spans": 7' in r.getMessage() for r in caplog.records)
    assert metric(tel, "otelcol_exporter_sent_spans_total", exporter="debug") == 7


def test_debug_normal_and_detailed(caplog):
    caplog.set_level(logging.INFO, logger="otel_lite.collector")
    t = make_traces(3)
    span = t.message.resource_spans[0].scope_spans[0].spans[0]
    run(export("debug", {"verbosity": "normal"}, [t]))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert f"s0-0 {span.trace_id.hex()} {span.span_id.hex()}" in text
    caplog.clear()
    run(export("debug", {"verbosity": "detailed"}, [t]))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "service.name: string_value(svc)" in text and span.span_id.hex() in text


def test_debug_sampling_limits_lines(caplog):
    caplog.set_level(logging.INFO, logger="otel_lite.collector")
    batches = [make_traces(1, i) for i in range(10)]
    run(export("debug", {"sampling_initial": 2, "sampling_thereafter": 0}, batches))
    summaries = [r for r in caplog.records if '"spans": 1' in r.getMessage()]
    assert 2 <= len(summaries) < 10  # 2 per one-second tick, more only if the run crossed a tick


def test_grpc_uses_tls_unless_insecure(otlp_sink):
    # the sink speaks plaintext: a TLS handshake against it fails, as it must, and is retryable
    cfg = {
        "endpoint": otlp_sink.grpc_endpoint,
        "timeout": "2s",
        "retry_on_failure": {"enabled": False},
        "sending_queue": {"enabled": False},
    }
    _, errors = run(export("otlp", cfg, [make_traces(1)]))
    assert len(errors) == 1 and isinstance(errors[0], RetryableError)
    assert otlp_sink.span_count() == 0


def test_unreadable_tls_file_fails_start_with_its_key(tmp_path):
    with pytest.raises(ConfigError) as info:  # validation reads the files already
        make_exporter("otlp", {"endpoint": "127.0.0.1:1", "tls": {"ca_file": str(tmp_path / "nope.pem")}})
    assert info.value.path == "tls.ca_file" and "nope.pem" in info.value.message
    ca = tmp_path / "nope.pem"
    ca.write_text("placeholder")

    async def main():
        exp, _ = make_exporter("otlp", {"endpoint": "127.0.0.1:1", "tls": {"ca_file": str(ca)}})
        ca.unlink()  # gone between validation and start
        with pytest.raises(ConfigError) as info:
            await exp.start(Host())
        await exp.shutdown()
        return info.value

    err = run(main())
    assert err.path == "tls.ca_file" and "nope.pem" in err.message
