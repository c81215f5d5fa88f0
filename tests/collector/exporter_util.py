"""Helpers for exporter tests: real OTLP batches and components built through their factories."""

from __future__ import annotations

import os

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_lite.collector.component import ComponentID, CreateSettings
from otel_lite.collector.consumer import Traces
from otel_lite.collector.pipeline import Host
from otel_lite.collector.registry import lookup
from otel_lite.collector.telemetry import Telemetry

FAST_RETRY = {"initial_interval": "10ms", "max_interval": "50ms", "max_elapsed_time": "10s"}


def make_traces(n: int, batch: int = 0, service: str = "svc") -> Traces:
    """``n`` spans under one resource; span names ``s<batch>-<i>``, unique ids."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    attr = rs.resource.attributes.add()
    attr.key = "service.name"
    attr.value.string_value = service
    ss = rs.scope_spans.add()
    ss.scope.name = "test"
    for i in range(n):
        span = ss.spans.add()
        span.trace_id = os.urandom(16)
        span.span_id = os.urandom(8)
        span.name = f"s{batch}-{i}"
        span.kind = 2
        span.start_time_unix_nano = 1_700_000_000_000_000_000 + i
        span.end_time_unix_nano = 1_700_000_000_000_100_000 + i
    return Traces.from_bytes(req.SerializeToString())


def make_exporter(
    kind_type: str,
    config: dict,
    name: str = "",
    telemetry: Telemetry | None = None,
    host: Host | None = None,
    kind: str = "exporter",
):
    """Build a component of ``kind_type`` through its factory from a YAML-like mapping."""
    factory = lookup(kind, kind_type)
    cfg = factory.config_class.from_mapping(config)
    telemetry = telemetry or Telemetry()
    settings = CreateSettings(ComponentID(factory.type, name), kind, telemetry, host=host)
    return factory.create(settings, cfg, None), telemetry


def metric(telemetry: Telemetry, name: str, **labels) -> float:
    value = telemetry.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value
