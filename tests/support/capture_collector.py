"""An in-process collector whose pipeline ends in a capturing exporter: ``lookup`` adds the
``capture`` exporter type to the built-in registry, ``Running`` starts ``BASE`` (an otlp
receiver on free loopback ports) on a ``LoopThread`` and stops it."""
from __future__ import annotations

from typing import ClassVar

from otel_lite.collector import registry
from otel_lite.collector.component import Component, ComponentConfig, Factory
from otel_lite.collector.config import build_config, parse_yaml
from otel_lite.collector.service import Collector


class CaptureExporter(Component):
    instances: ClassVar[list] = []

    def __init__(self):
        self.batches = []
        self.fail_with: list[BaseException] = []  # raised (in order) by the next consume calls
        self.calls = 0
        CaptureExporter.instances.append(self)

    async def consume(self, traces):
        self.calls += 1
        if self.fail_with:
            raise self.fail_with.pop(0)
        _ = traces.message  # the receiver's message/bytes must parse
        self.batches.append(traces)

    def spans(self):
        return [s for t in self.batches for rs in t.message.resource_spans for ss in rs.scope_spans for s in ss.spans]


CAPTURE = Factory(kind="exporter", type="capture", config_class=ComponentConfig,
                  create=lambda settings, config, nxt: CaptureExporter())


def lookup(kind, type_name):
    if (kind, type_name) == ("exporter", "capture"):
        return CAPTURE
    return registry.lookup(kind, type_name)


BASE = """
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:0", max_recv_msg_size_mib: 1, include_metadata: true}
      http: {endpoint: "127.0.0.1:0", max_request_body_size: 1048576, include_metadata: true}
exporters:
  capture:
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [capture]}
  telemetry: {metrics: {level: none}}
"""


class Running:
    def __init__(self, loop_thread, text=BASE):
        self.lt = loop_thread
        self.collector = loop_thread.call(Collector, build_config(parse_yaml(text), lookup))  # on the loop
        loop_thread.run(self.collector.start())
        self.receiver = self.collector.graph.get("receiver", "otlp")
        self.capture = self.collector.graph.get("exporter", "capture")
        self.grpc_target = f"127.0.0.1:{self.receiver.grpc_port}"
        self.http_url = f"http://127.0.0.1:{self.receiver.http_port}/v1/traces"

    def stop(self):
        self.lt.run(self.collector.shutdown())
