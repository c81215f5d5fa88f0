"""The gRPC server side every gRPC receiver shares (collector.grpc_server, Go's configgrpc): config
keys and validation, the grpc options they become, and auth / TLS errors on every gRPC receiver."""

from __future__ import annotations

import grpc
import pytest

from otel_lite.collector import registry
from otel_lite.collector.component import Component, ComponentConfig, ConfigError, Factory
from otel_lite.collector.config import build_config, expand_env, parse_yaml
from otel_lite.collector.grpc_server import GRPCServerConfig, server_options
from otel_lite.collector.legacy_proto.jaeger.api_v2 import collector_pb2, collector_pb2_grpc, model_pb2
from otel_lite.collector.receivers.jaeger import JaegerReceiverConfig
from otel_lite.collector.receivers.opencensus import OpenCensusReceiverConfig
from otel_lite.collector.receivers.otlp import OTLPReceiverConfig
from otel_lite.collector.service import Collector


def otlp_grpc(**keys):
    return OTLPReceiverConfig.from_mapping({"protocols": {"grpc": keys}}, "receivers.otlp").protocols.grpc


def test_every_grpc_receiver_has_the_configgrpc_keys():
    otlp = otlp_grpc()
    jaeger = JaegerReceiverConfig.from_mapping({"protocols": {"grpc": None}}).protocols.grpc
    opencensus = OpenCensusReceiverConfig.from_mapping({})
    for cfg, endpoint in ((otlp, "127.0.0.1:4317"), (jaeger, "127.0.0.1:14250"), (opencensus, "127.0.0.1:55678")):
        assert isinstance(cfg, GRPCServerConfig) and cfg.endpoint == endpoint
        assert (cfg.max_recv_msg_size_mib, cfg.read_buffer_size, cfg.transport) == (4, 512 * 1024, "tcp")


def test_read_buffer_size_is_the_read_size_and_write_buffer_size_loads_and_does_nothing():
    assert ("grpc.experimental.tcp_read_chunk_size", 512 * 1024) in server_options(otlp_grpc())
    assert ("grpc.experimental.tcp_read_chunk_size", 65536) in server_options(otlp_grpc(read_buffer_size=65536))
    assert not [k for k, _ in server_options(otlp_grpc(read_buffer_size=0)) if "read_chunk" in k]  # gRPC's own
    for value in (-1, 33 * 1024 * 1024):
        with pytest.raises(ConfigError) as e:
            otlp_grpc(read_buffer_size=value)
        assert e.value.path == "receivers.otlp.protocols.grpc.read_buffer_size"
    # gRPC's C core has no equivalent: Go configs carrying it load, and no option is set for it
    assert server_options(otlp_grpc(write_buffer_size=1024)) == server_options(otlp_grpc())
    with pytest.raises(ConfigError) as e:
        otlp_grpc(write_buffer_size=-1)
    assert e.value.path == "receivers.otlp.protocols.grpc.write_buffer_size"


def test_options_from_the_config():
    opts = dict(
        server_options(
            otlp_grpc(
                max_recv_msg_size_mib=8,
                max_concurrent_streams=16,
                keepalive={
                    "server_parameters": {"time": "30s", "max_connection_age": "1m"},
                    "enforcement_policy": {"min_time": "5s", "permit_without_stream": True},
                },
            )
        )
    )
    assert opts["grpc.max_receive_message_length"] == 8 * 1024 * 1024 and opts["grpc.max_concurrent_streams"] == 16
    assert opts["grpc.keepalive_time_ms"] == 30000 and opts["grpc.max_connection_age_ms"] == 60000
    assert opts["grpc.http2.min_ping_interval_without_data_ms"] == 5000
    assert opts["grpc.keepalive_permit_without_calls"] == 1 and opts["grpc.so_reuseport"] == 0


class Capture(Component):
    def __init__(self):
        self.span_count = 0

    async def consume(self, traces):
        self.span_count += traces.span_count


def lookup(kind, type_name):
    if (kind, type_name) == ("exporter", "capture"):
        return Factory(
            kind="exporter",
            type="capture",
            config_class=ComponentConfig,
            create=lambda settings, config, nxt: Capture(),
        )
    return registry.lookup(kind, type_name)


def post_spans_request(n: int) -> collector_pb2.PostSpansRequest:
    spans = [
        model_pb2.Span(trace_id=bytes(15) + b"\x05", span_id=bytes(7) + bytes([i + 1]), operation_name="op")
        for i in range(n)
    ]
    return collector_pb2.PostSpansRequest(
        batch=model_pb2.Batch(process=model_pb2.Process(service_name="s"), spans=spans)
    )


JAEGER_WITH_AUTH = """
extensions:
  bearertokenauth: {token: "${env:TOKEN}"}
receivers:
  jaeger:
    protocols:
      grpc: {endpoint: "127.0.0.1:0", read_buffer_size: 65536, auth: {authenticator: bearertokenauth}}
exporters:
  capture:
service:
  extensions: [bearertokenauth]
  pipelines:
    traces: {receivers: [jaeger], exporters: [capture]}
  telemetry: {metrics: {level: none}}
"""


def test_jaeger_grpc_takes_auth_like_every_grpc_receiver(loop_thread):
    raw = expand_env(parse_yaml(JAEGER_WITH_AUTH), env={"TOKEN": "s3cret"})
    collector = loop_thread.call(Collector, build_config(raw, lookup))
    loop_thread.run(collector.start())
    try:
        receiver = collector.graph.get("receiver", "jaeger")
        with grpc.insecure_channel(f"127.0.0.1:{receiver.grpc_port}") as channel:
            stub = collector_pb2_grpc.CollectorServiceStub(channel)
            with pytest.raises(grpc.RpcError) as e:
                stub.PostSpans(post_spans_request(1), timeout=5)
            assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
            response = stub.PostSpans(post_spans_request(2), metadata=[("authorization", "Bearer s3cret")], timeout=5)
            assert response == collector_pb2.PostSpansResponse()
        assert collector.graph.get("exporter", "capture").span_count == 2
    finally:
        loop_thread.run(collector.shutdown())
