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
        "otlp": "collector.receivers.otlp",
        "jaeger": "collector.receivers.jaeger",
        "zipkin": "collector.receivers.zipkin",
        "opencensus": "collector.receivers.opencensus",
    },
    "processor": {
        "batch": "collector.processors.batch",
        "memory_limiter": "collector.processors.memory_limiter",
        "probabilistic_sampler": "collector.processors.probabilistic_sampler",
        "tail_sampling": "collector.processors.tail_sampling",
    },
    "exporter": {
        "otlp_grpc": "collector.exporters.otlp_grpc",
        "otlp_http": "collector.exporters.otlp_http",
        "file": "collector.exporters.file",
        "debug": "collector.exporters.debug",
    },
    "extension": {
        "health_check": "collector.extensions.health_check",
        "file_storage": "collector.extensions.file_storage",
        "bearertokenauth": "collector.extensions.bearertokenauth",
    },
}

ALIASES: dict[str, dict[str, str]] = {
    "exporter": {"otlp": "otlp_grpc", "otlphttp": "otlp_http"},
}


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
