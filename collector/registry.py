"""Where each built-in component type lives.

A component module defines ``FACTORY = Factory(...)``; it is imported only
when a config uses its type, so adding a component means adding its module
and one line here, and touches no other component.
"""

from __future__ import annotations

import importlib

from .component import Factory

BUILTIN_MODULES: dict[str, dict[str, str]] = {
    "receiver": {
        "otlp": "otel_lite.collector.receivers.otlp",
        "jaeger": "otel_lite.collector.receivers.jaeger",
        "zipkin": "otel_lite.collector.receivers.zipkin",
        "opencensus": "otel_lite.collector.receivers.opencensus",
    },
    "processor": {
        "attributes": "otel_lite.collector.processors.attributes",
        "batch": "otel_lite.collector.processors.batch",
        "filter": "otel_lite.collector.processors.filter",
        "memory_limiter": "otel_lite.collector.processors.memory_limiter",
        "probabilistic_sampler": "otel_lite.collector.processors.probabilistic_sampler",
        "resource": "otel_lite.collector.processors.resource",
        "resourcedetection": "otel_lite.collector.processors.resourcedetection",
        "tail_sampling": "otel_lite.collector.processors.tail_sampling",
        "transform": "otel_lite.collector.processors.transform",
    },
    "exporter": {
        "otlp_grpc": "otel_lite.collector.exporters.otlp_grpc",
        "otlp_http": "otel_lite.collector.exporters.otlp_http",
        "file": "otel_lite.collector.exporters.file",
        "debug": "otel_lite.collector.exporters.debug",
        "loadbalancing": "otel_lite.collector.exporters.loadbalancing",
    },
    "extension": {
        "health_check": "otel_lite.collector.extensions.health_check",
        "file_storage": "otel_lite.collector.extensions.file_storage",
        "bearertokenauth": "otel_lite.collector.extensions.bearertokenauth",
    },
    "connector": {
        "count": "otel_lite.collector.connectors.count",
        "forward": "otel_lite.collector.connectors.forward",
        "routing": "otel_lite.collector.connectors.routing",
        "spanmetrics": "otel_lite.collector.connectors.spanmetrics",
    },
}

ALIASES: dict[str, dict[str, str]] = {
    "exporter": {"otlp": "otlp_grpc", "otlphttp": "otlp_http", "load_balancing": "loadbalancing", "logging": "debug"},
}

#: aliases that still load but warn: the name is gone from the Go Collector and configs should move on
DEPRECATED: dict[str, dict[str, str]] = {
    "exporter": {
        "logging": "the logging exporter was removed from the OpenTelemetry Collector (v0.111.0); "
        "it runs as the debug exporter here: rename it to debug",
    },
}

#: the logging exporter's ``loglevel`` as the debug exporter's ``verbosity`` (Go's mapping)
LOGLEVEL_VERBOSITY = {"debug": "detailed", "info": "normal", "warn": "basic", "error": "basic"}


def lookup(kind: str, type_name: str) -> Factory | None:
    """The factory for ``type_name`` of ``kind`` (aliases resolved), or None."""
    type_name = ALIASES.get(kind, {}).get(type_name, type_name)
    module = BUILTIN_MODULES.get(kind, {}).get(type_name)
    if module is None:
        return None
    factory = importlib.import_module(module).FACTORY
    assert factory.kind == kind and factory.type == type_name, (factory, kind, type_name)
    return factory


def available() -> dict[str, list[str]]:
    return {kind: sorted(mods) for kind, mods in BUILTIN_MODULES.items()}
