"""An in-process collector whose pipeline ends in a capturing exporter: ``lookup`` adds the
``capture`` exporter type to the built-in registry, ``Running`` starts a config (``BASE``: an
otlp receiver on free loopback ports) on a ``LoopThread`` and stops it.  The receiver tests
subclass ``Running`` with their protocol's clients."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from otel_lite.collector import registry
from otel_lite.collector.component import Component, ComponentConfig, Factory
from otel_lite.collector.config import build_config, expand_env, parse_yaml
from otel_lite.collector.service import Collector


class CaptureExporter(Component):
    """Keeps every batch; can be told to fail (``fail_with``) or to hold the pipeline (``gate``)."""

    instances: ClassVar[list] = []

    def __init__(self):
        self.batches = []
        self.fail_with: list[BaseException] = []  # raised (in order) by the next consume calls
        self.gate: asyncio.Event | None = None  # set by a test (on the loop) to stall the pipeline
        self.calls = 0
        CaptureExporter.instances.append(self)

    async def consume(self, traces):
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_with:
            raise self.fail_with.pop(0)
        _ = traces.message  # the receiver's message/bytes must parse
        self.batches.append(traces)

    def spans(self):
        return [s for t in self.batches for rs in t.message.resource_spans for ss in rs.scope_spans for s in ss.spans]

    def span_count(self):
        return sum(t.span_count for t in self.batches)

    def span_names(self):
        return sorted(s.name for s in self.spans())


CAPTURE = Factory(
    kind="exporter",
    type="capture",
    config_class=ComponentConfig,
    create=lambda settings, config, nxt: CaptureExporter(),
)


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
    """``text`` built with ``lookup`` (``${env:...}`` expanded from ``env`` when given) and started;
    ``receiver`` is the receiver named ``receiver``, ``capture`` the capture exporter."""

    def __init__(self, loop_thread, text=BASE, receiver: str = "otlp", env: dict | None = None):
        raw = parse_yaml(text)
        if env is not None:
            raw = expand_env(raw, env=env)
        self.lt = loop_thread
        self.collector = loop_thread.call(Collector, build_config(raw, lookup))  # on the loop
        loop_thread.run(self.collector.start())
        self.receiver = self.collector.graph.get("receiver", receiver)
        self.capture = self.collector.graph.get("exporter", "capture")

    @property
    def grpc_target(self) -> str:  # an otlp receiver's
        return f"127.0.0.1:{self.receiver.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.receiver.http_port}/v1/traces"

    def stop(self):
        self.lt.run(self.collector.shutdown())
