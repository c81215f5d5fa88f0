"""A Go Collector config naming components this collector lacks gets, per component, what it is
and what to do, all in one run; a misspelt type gets the closest name we have."""

from __future__ import annotations

import pytest

from otel_lite.collector.config import build_config, parse_yaml
from otel_lite.collector.config_loading import ConfigErrors
from otel_lite.collector.unsupported_components import UNSUPPORTED

# the shape of the OpenTelemetry demo's collector config, with what we don't have left in
DEMO_LIKE = """
receivers:
  otlp: {protocols: {grpc: {endpoint: "127.0.0.1:4317"}}}
  hostmetrics: {collection_interval: 10s}
  zipkn: {}
processors:
  batch: {}
  resourcedetection: {detectors: [env, system]}
  k8sattributes: {}
  redaction: {}
exporters:
  otlp: {endpoint: "jaeger:4317", tls: {insecure: true}}
  prometheus: {endpoint: "0.0.0.0:9464"}
connectors:
  servicegraph: {}
extensions:
  zpages: {}
  pprof: {}
service:
  extensions: [zpages, pprof]
  pipelines:
    traces: {receivers: [otlp], processors: [k8sattributes, resourcedetection, batch], exporters: [otlp, servicegraph]}
    metrics: {receivers: [hostmetrics, servicegraph], processors: [redaction, batch], exporters: [prometheus]}
"""


def _errors(text: str) -> dict[str, str]:
    with pytest.raises(ConfigErrors) as info:
        build_config(parse_yaml(text))
    return {e.path: e.message for e in info.value.errors}


def test_every_go_only_component_is_explained_at_once():
    errs = _errors(DEMO_LIKE)
    for path, words in {
        "receivers.hostmetrics": "host CPU/memory/disk metrics",
        "processors.k8sattributes": "Kubernetes",
        "processors.redaction": "attribute redaction",
        "exporters.prometheus": "Prometheus scrape endpoint",
        "connectors.servicegraph": "a service graph from spans",
        "extensions.zpages": "service.telemetry.metrics",
        "extensions.pprof": "profiler",
    }.items():
        assert path in errs, (path, errs)
        assert "otel-lite-collector does not have it" in errs[path], errs[path]
        assert words in errs[path], errs[path]
    # never a generic "unknown" for a name the Go Collector has
    assert not any("unknown" in errs[p] for p in errs if p.split(".")[-1] in {t for _, t in UNSUPPORTED})


def test_a_misspelt_type_gets_the_closest_name():
    errs = _errors(DEMO_LIKE)
    assert "did you mean 'zipkin'?" in errs["receivers.zipkn"], errs["receivers.zipkn"]


def test_every_entry_says_what_to_do():
    for (kind, type_name), (what, advice) in UNSUPPORTED.items():
        assert what and advice, (kind, type_name)
        assert kind in ("receiver", "processor", "exporter", "connector", "extension")
